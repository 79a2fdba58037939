/** Why a task waits, in the CLI's words, with the tasks holding what it needs linked to their runs. */
import { describeReason } from "../src/observe/describe.js";
import type { Holder, WaitReason } from "./api.js";

export function HolderLinks({ holders }: { holders: readonly Holder[] }) {
  if (holders.length === 0) return <span class="muted">—</span>;
  return (
    <span class="holders">
      {holders.slice(0, 8).map((h) => (
        <a href={`#/runs/${h.run}`} class="holder" title={h.draining ? `attempt ${h.draining.attemptId} ${h.draining.why}, its function still runs` : undefined}>
          {h.pipeline}.{h.task} (run {h.run}
          {h.amount > 1 ? `, ${h.amount}` : ""}
          {h.draining ? ", draining" : ""})
        </a>
      ))}
      {holders.length > 8 && <span class="muted"> and {holders.length - 8} more</span>}
    </span>
  );
}

/** One reason: its sentence (without the holders, which follow as links). */
export function Reason({ reason }: { reason: WaitReason }) {
  const holders = "holders" in reason ? reason.holders : [];
  const text = describeReason("holders" in reason ? { ...reason, holders: [] } : reason);
  return (
    <div class={`reason reason-${reason.kind}`}>
      <span>{text}</span>
      {holders.length > 0 && (
        <span>
          {" "}
          — held by <HolderLinks holders={holders} />
        </span>
      )}
    </div>
  );
}

export function Reasons({ reasons }: { reasons: readonly WaitReason[] }) {
  if (reasons.length === 0) return <span class="muted">—</span>;
  return (
    <div class="reasons">
      {reasons.map((r) => (
        <Reason reason={r} />
      ))}
    </div>
  );
}
