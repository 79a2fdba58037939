/**
 * Sluice's dashboard: pipelines and runs, a run's DAG with why each task waits, the timeline,
 * pool utilization, the why-waiting panel, workers and events — live over the server's event
 * stream. Built into dist/server/ui by scripts/build.mjs (esbuild), served by `sluice run`.
 */
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { postJson, useApi, useLive, type Attempt, type EventRecord, type LogLine, type Overview, type RunDetail, type RunRecord, type RunTask, type TaskExplanation, type Worker } from "./api.js";
import { bytes, stateColor, took, when } from "./format.js";
import { Meter, Pools } from "./pools.js";
import { HolderLinks, Reasons } from "./reasons.js";
import { Timeline } from "./timeline.js";

function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

const State = ({ state }: { state: string }) => (
  <span class={`state state-${state}`} style={{ borderColor: stateColor(state) }}>
    {state.replace("_", " ")}
  </span>
);

/** A button that runs an action, shows it is busy, and shows the server's refusal. */
function Action({ label, run, testid, kind }: { label: string; run: () => Promise<unknown>; testid?: string; kind?: "danger" }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  return (
    <span class="action">
      <button
        class={kind}
        disabled={busy}
        data-testid={testid}
        onClick={() => {
          setBusy(true);
          setError(undefined);
          run().then(
            () => setBusy(false),
            (err: Error) => {
              setBusy(false);
              setError(err.message);
            },
          );
        }}
      >
        {busy ? "…" : label}
      </button>
      {error && <span class="error"> {error}</span>}
    </span>
  );
}

function RunsTable({ runs }: { runs: readonly RunRecord[] }) {
  if (runs.length === 0) return <p class="muted">No runs yet.</p>;
  return (
    <table class="grid" data-testid="runs-table">
      <thead>
        <tr>
          <th>run</th>
          <th>pipeline</th>
          <th>trigger</th>
          <th>state</th>
          <th>scheduled for</th>
          <th>started</th>
          <th>took</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr>
            <td>
              <a href={`#/runs/${r.id}`}>{r.id}</a>
            </td>
            <td>{r.pipeline}</td>
            <td>{r.trigger}</td>
            <td>
              <State state={r.state} />
            </td>
            <td>{when(r.scheduledFor)}</td>
            <td>{when(r.startedAt)}</td>
            <td>{r.startedAt ? took((r.endedAt ?? Date.now()) - r.startedAt) : "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Home({ tick }: { tick: number }) {
  const { data, error } = useApi<Overview>("/api/overview", tick);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const pools = data.pools.filter((u) => u.kind === "pool" || u.kind === "queue" || u.kind === "memory");
  return (
    <section>
      <div class="cards">
        <div class="card">
          <b data-testid="running-count">{data.running}</b> running
        </div>
        <div class="card">
          <b>{data.waiting}</b> waiting
        </div>
        <div class="card">
          <b>{data.active.length}</b> active run(s)
        </div>
        <div class="card muted">store: {data.store}</div>
      </div>
      <h2>Pipelines</h2>
      <table class="grid" data-testid="pipelines-table">
        <thead>
          <tr>
            <th>pipeline</th>
            <th>schedule</th>
            <th>next run</th>
            <th>last run</th>
            <th>active</th>
            <th>skipped</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data.pipelines.map((p) => (
            <tr>
              <td title={p.description ?? undefined}>
                <b>{p.pipeline}</b>
                <div class="muted small">
                  {p.tasks.length} task(s), overlap {p.overlap}
                </div>
              </td>
              <td>
                {p.schedule}
                {p.schedule !== "manual only" && <div class="muted small">{p.timezone}</div>}
                {p.state === "paused" && <State state="paused" />}
              </td>
              <td>{p.nextRun ? when(Date.parse(p.nextRun)) : "—"}</td>
              <td>
                {p.lastRun ? (
                  <a href={`#/runs/${p.lastRun.id}`}>
                    run {p.lastRun.id} <State state={p.lastRun.state} />
                  </a>
                ) : (
                  "—"
                )}
              </td>
              <td>{p.activeRuns}</td>
              <td>{p.skipped}</td>
              <td class="actions">
                <Action
                  label="Trigger"
                  testid={`trigger-${p.pipeline}`}
                  run={async () => {
                    const { runId } = await postJson<{ runId: number }>(`/api/pipelines/${encodeURIComponent(p.pipeline)}/trigger`, { params: {} });
                    location.hash = `#/runs/${runId}`;
                  }}
                />
                {p.schedule !== "manual only" &&
                  (p.state === "paused" ? (
                    <Action label="Resume" run={() => postJson(`/api/pipelines/${encodeURIComponent(p.pipeline)}/resume`)} />
                  ) : (
                    <Action label="Pause" run={() => postJson(`/api/pipelines/${encodeURIComponent(p.pipeline)}/pause`)} />
                  ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {pools.length > 0 && (
        <>
          <h2>
            Pools <a href="#/pools" class="small">history →</a>
          </h2>
          <table class="grid">
            <tbody>
              {pools.map((u) => (
                <tr>
                  <td>{u.kind === "pool" ? u.name : `worker ${u.kind === "queue" ? "slots" : "memory"} (${u.name})`}</td>
                  <td>
                    <Meter used={u.used} reserved={u.reserved} capacity={u.capacity} />
                  </td>
                  <td>{u.waiting > 0 ? `${u.waiting} waiting` : ""}</td>
                  <td>
                    <HolderLinks holders={u.holders} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h2>Recent runs</h2>
      <RunsTable runs={data.runs} />
    </section>
  );
}

/** The DAG, layered by depth (longest path from a root), tasks colored by state. */
function Dag({ tasks, selected, onSelect }: { tasks: readonly RunTask[]; selected: string | undefined; onSelect: (task: string) => void }) {
  const layout = useMemo(() => {
    const depth = new Map<string, number>();
    const byId = new Map(tasks.map((t) => [t.task, t]));
    const depthOf = (id: string, seen = new Set<string>()): number => {
      const known = depth.get(id);
      if (known !== undefined) return known;
      if (seen.has(id)) return 0;
      seen.add(id);
      const d = Math.max(-1, ...(byId.get(id)?.dependsOn ?? []).map((p) => depthOf(p, seen))) + 1;
      depth.set(id, d);
      return d;
    };
    const columns: string[][] = [];
    for (const t of tasks) (columns[depthOf(t.task)] ??= []).push(t.task);
    const pos = new Map<string, { x: number; y: number }>();
    columns.forEach((col, c) => col.forEach((id, r) => pos.set(id, { x: 16 + c * 200, y: 16 + r * 52 })));
    return { pos, width: 16 + columns.length * 200, height: 16 + Math.max(1, ...columns.map((c) => c.length)) * 52 };
  }, [tasks]);
  return (
    <svg class="dag" width={layout.width} height={layout.height} data-testid="dag">
      {tasks.flatMap((t) =>
        t.dependsOn.map((d) => {
          const a = layout.pos.get(d);
          const b = layout.pos.get(t.task);
          if (!a || !b) return null;
          const x1 = a.x + 160;
          const y1 = a.y + 17;
          const x2 = b.x;
          const y2 = b.y + 17;
          return <path d={`M${x1},${y1} C${x1 + 20},${y1} ${x2 - 20},${y2} ${x2},${y2}`} class="edge" />;
        }),
      )}
      {tasks.map((t) => {
        const p = layout.pos.get(t.task);
        if (!p) return null;
        return (
          <g class={`node${selected === t.task ? " selected" : ""}`} transform={`translate(${p.x},${p.y})`} onClick={() => onSelect(t.task)} data-testid={`dag-node-${t.task}`} data-state={t.state}>
            <rect width="160" height="34" rx="6" style={{ fill: stateColor(t.state), fillOpacity: 0.18, stroke: stateColor(t.state) }} />
            <text x="10" y="15">
              {t.task.length > 20 ? `${t.task.slice(0, 19)}…` : t.task}
            </text>
            <text x="10" y="28" class="sub">
              {t.state.replace("_", " ")}
              {t.attempts > 1 ? ` · ${t.attempts} attempts` : ""}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function Logs({ attempt }: { attempt: number }) {
  const { data, error } = useApi<LogLine[]>(`/api/attempts/${attempt}/logs`, 0);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  if (data.length === 0) return <p class="muted">No ctx.log lines.</p>;
  return (
    <pre class="logs">
      {data.map((l) => `${new Date(l.at).toISOString().slice(11, 23)} ${l.level.padEnd(5)} ${l.msg}${l.data ? ` ${JSON.stringify(l.data)}` : ""}\n`).join("")}
    </pre>
  );
}

function AttemptsTable({ attempts }: { attempts: readonly Attempt[] }) {
  const [open, setOpen] = useState<number | undefined>();
  return (
    <table class="grid">
      <thead>
        <tr>
          <th>attempt</th>
          <th>task</th>
          <th>state</th>
          <th>worker</th>
          <th>waited</th>
          <th>started</th>
          <th>took</th>
          <th>peak memory</th>
          <th>error</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <>
            <tr>
              <td>
                {a.id} <span class="muted">#{a.attempt}</span>
              </td>
              <td>{a.task}</td>
              <td>
                <State state={a.state} />
              </td>
              <td>{a.workerId ?? "—"}</td>
              <td>
                {took(a.startedAt - a.queuedAt)}
                {a.waitedFor && <span class="muted"> ({a.waitedFor.kind} {a.waitedFor.name})</span>}
              </td>
              <td>{when(a.startedAt)}</td>
              <td>{took((a.endedAt ?? Date.now()) - a.startedAt)}</td>
              <td>{bytes(a.peakMemoryBytes)}</td>
              <td class="error small">{a.error?.message ?? ""}</td>
              <td>
                <button class="link" onClick={() => setOpen(open === a.id ? undefined : a.id)}>
                  {open === a.id ? "hide logs" : "logs"}
                </button>
              </td>
            </tr>
            {open === a.id && (
              <tr>
                <td colSpan={10}>
                  <Logs attempt={a.id} />
                </td>
              </tr>
            )}
          </>
        ))}
      </tbody>
    </table>
  );
}

function RunView({ id, tick }: { id: string; tick: number }) {
  const { data, error } = useApi<RunDetail>(`/api/runs/${encodeURIComponent(id)}`, tick);
  const [selected, setSelected] = useState<string | undefined>();
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  const { run } = data;
  const active = run.state === "queued" || run.state === "running";
  const shown = selected ? data.tasks.filter((t) => t.task === selected) : data.tasks;
  return (
    <section>
      <div class="toolbar">
        <h2>
          Run {run.id} of {run.pipeline} <State state={run.state} />
        </h2>
        {active && <Action label="Cancel run" kind="danger" testid="cancel-run" run={() => postJson(`/api/runs/${run.id}/cancel`)} />}
        {(run.state === "failed" || run.state === "cancelled") && <Action label="Retry failed tasks" testid="retry-run" run={() => postJson(`/api/runs/${run.id}/retry`)} />}
      </div>
      <p class="muted">
        {run.trigger} run, scheduled for {when(run.scheduledFor)}; started {when(run.startedAt)}
        {run.endedAt ? `, ended ${when(run.endedAt)} (${took(run.endedAt - (run.startedAt ?? run.createdAt))})` : ""}
        {Object.keys(run.params).length > 0 ? `; params ${JSON.stringify(run.params)}` : ""}
      </p>
      <Dag tasks={data.tasks} selected={selected} onSelect={(t) => setSelected(selected === t ? undefined : t)} />
      <h3>
        Tasks{" "}
        {selected && (
          <button class="link" onClick={() => setSelected(undefined)}>
            (show all)
          </button>
        )}
      </h3>
      <table class="grid" data-testid="run-tasks">
        <thead>
          <tr>
            <th>task</th>
            <th>state</th>
            <th>attempts</th>
            <th>why it waits / what it holds</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((t) => (
            <tr data-testid={`task-${t.task}`}>
              <td>{t.task}</td>
              <td>
                <State state={t.state} />
                {t.sla && (t.sla.missed || t.sla.willMiss) && <span class="error small"> {t.sla.missed ? "SLA missed" : "will miss its SLA"}</span>}
              </td>
              <td>
                {t.attempts}
                {!active && (t.state === "failed" || t.state === "upstream_failed") && (
                  <Action label="Mark success" testid={`mark-${t.task}`} run={() => postJson(`/api/runs/${run.id}/mark`, { task: t.task, state: "success" })} />
                )}
              </td>
              <td>{t.state === "running" ? <span class="muted">holds {t.holding.map((d) => `${d.key}${d.amount > 1 ? ` ×${d.amount}` : ""}`).join(", ") || "nothing"}</span> : <Reasons reasons={t.reasons} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Attempts</h3>
      <AttemptsTable attempts={selected ? data.attempts.filter((a) => a.task === selected) : data.attempts} />
    </section>
  );
}

function Waiting({ tick }: { tick: number }) {
  const { data, error } = useApi<{ total: number; tasks: TaskExplanation[] }>("/api/waiting?limit=300", tick);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  return (
    <section data-testid="why-waiting">
      <h2>Why waiting</h2>
      <p class="muted">
        {data.total} task(s) wait for admission{data.total > data.tasks.length ? ` (the best-ranked ${data.tasks.length} shown)` : ""}, best-ranked first.
      </p>
      {data.tasks.length === 0 && <p>Nothing waits.</p>}
      {data.tasks.map((e) => (
        <div class="why" data-testid={`waiting-${e.pipeline}.${e.task}`}>
          <div>
            <a href={`#/runs/${e.runId}`}>
              <b>
                {e.pipeline}.{e.task}
              </b>{" "}
              (run {e.runId})
            </a>{" "}
            <State state={e.state} />
            <span class="muted small">
              {" "}
              {e.readyAt ? `waiting ${took(Date.now() - e.readyAt)}` : ""}
              {e.priority !== undefined ? `, priority ${Math.round(e.priority)}` : ""}
            </span>
          </div>
          <Reasons reasons={e.reasons} />
        </div>
      ))}
    </section>
  );
}

function Workers({ tick }: { tick: number }) {
  const { data, error } = useApi<Worker[]>("/api/workers", tick);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  return (
    <section>
      <h2>Workers</h2>
      <table class="grid" data-testid="workers-table">
        <thead>
          <tr>
            <th>name</th>
            <th>host</th>
            <th>pid</th>
            <th>queues</th>
            <th>slots</th>
            <th>memory</th>
            <th>state</th>
            <th>last heartbeat</th>
          </tr>
        </thead>
        <tbody>
          {data.map((w) => (
            <tr>
              <td>{w.name}</td>
              <td>{w.host}</td>
              <td>{w.pid}</td>
              <td>{w.queues.join(", ")}</td>
              <td>{w.used !== undefined ? `${w.used}/${w.slots}` : w.slots}</td>
              <td>{w.memoryMb !== null ? `${w.memoryMb} MB` : "—"}</td>
              <td>
                <State state={w.live ? "running" : "lost"} />
              </td>
              <td>{w.heartbeatAt ? when(w.heartbeatAt) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Events({ tick }: { tick: number }) {
  const { data, error } = useApi<EventRecord[]>("/api/events?limit=300", tick);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  return (
    <section>
      <h2>Events</h2>
      <table class="grid">
        <tbody>
          {data.map((e) => (
            <tr class={`level-${e.level}`}>
              <td class="nowrap">{when(e.at)}</td>
              <td>{e.type}</td>
              <td>{e.runId !== null ? <a href={`#/runs/${e.runId}`}>{e.message}</a> : e.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

const NAV: Array<[string, string]> = [
  ["", "Pipelines"],
  ["timeline", "Timeline"],
  ["pools", "Pools"],
  ["waiting", "Why waiting"],
  ["workers", "Workers"],
  ["events", "Events"],
];

function App() {
  const route = useRoute();
  const { tick, connected } = useLive();
  const [page, id] = route;
  let view;
  if (page === "runs" && id) view = <RunView id={id} tick={tick} />;
  else if (page === "timeline") view = <Timeline tick={tick} />;
  else if (page === "pools") view = <Pools tick={tick} />;
  else if (page === "waiting") view = <Waiting tick={tick} />;
  else if (page === "workers") view = <Workers tick={tick} />;
  else if (page === "events") view = <Events tick={tick} />;
  else view = <Home tick={tick} />;
  return (
    <>
      <header>
        <a href="#/" class="brand">
          Sluice
        </a>
        <nav>
          {NAV.map(([path, name]) => (
            <a href={`#/${path}`} class={(page ?? "") === path ? "active" : ""}>
              {name}
            </a>
          ))}
        </nav>
        <span class={`live ${connected ? "on" : "off"}`} data-testid="live" title={connected ? "live updates connected" : "reconnecting to the server…"}>
          {connected ? "● live" : "○ offline"}
        </span>
      </header>
      <main>{view}</main>
    </>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
