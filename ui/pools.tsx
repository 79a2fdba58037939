/**
 * Pool utilization over time (used, reserved, capacity per pool and worker limit, sampled once a
 * second by the server) with uPlot, and each pool's state now with its holders.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { useApi, type PoolHistory, type ResourceUsage } from "./api.js";
import { HolderLinks } from "./reasons.js";

const label = (u: { kind: string; name: string }) => (u.kind === "pool" ? u.name : u.kind === "queue" ? `worker slots (${u.name})` : u.kind === "memory" ? `worker memory MB (${u.name})` : "parallelism");

interface Line {
  label: string;
  values: number[];
  stroke: string;
  fill?: string;
  dash?: number[];
}

/** A pool's used, used + reserved and capacity over time. */
function PoolChart({ title, t, used, reserved, capacity }: { title: string; t: number[]; used: number[]; reserved: number[]; capacity: number[] }) {
  return (
    <Chart
      title={title}
      t={t}
      lines={[
        { label: "used", values: used, stroke: "#2f7fd8", fill: "rgba(47,127,216,0.25)" },
        { label: "used + reserved", values: used.map((u, i) => u + (reserved[i] ?? 0)), stroke: "#e86a92", dash: [4, 3] },
        { label: "capacity", values: capacity, stroke: "#223" },
      ]}
    />
  );
}

function Chart({ title, t, lines, max }: { title: string; t: number[]; lines: Line[]; max?: number }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [t.map((v) => v / 1000), ...lines.map((l) => l.values)];
  useEffect(() => {
    const node = el.current;
    if (!node) return;
    plot.current = new uPlot(
      {
        title,
        width: Math.max(320, node.clientWidth),
        height: 160,
        scales: { y: { range: (_u, _min, top) => [0, max ?? Math.max(1, top * 1.1)] } },
        series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.stroke, width: 1.5, ...(l.fill ? { fill: l.fill } : {}), ...(l.dash ? { dash: l.dash } : {}) }))],
        axes: [{}, { size: 40 }],
        legend: { live: false },
      },
      data,
      node,
    );
    const observer = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(320, node.clientWidth), height: 160 }));
    observer.observe(node);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [title]);
  useEffect(() => plot.current?.setData(data), [t, lines]);
  return <div class="chart" ref={el} />;
}

export function Pools({ tick }: { tick: number }) {
  const usage = useApi<ResourceUsage[]>("/api/pools", tick);
  // The server keeps the last hour. The path must not change between renders (a `since` of
  // Date.now() did, and refetched on every render); sampled once a second, it is fetched every
  // fifth live tick.
  const history = useApi<PoolHistory>("/api/pools/history", Math.floor(tick / 5));
  const shown = (usage.data ?? []).filter((u) => u.kind === "pool" || u.kind === "queue" || u.kind === "memory" || u.kind === "parallelism");
  return (
    <section>
      <h2>Pools and worker limits</h2>
      {usage.error && <p class="error">{usage.error}</p>}
      <table class="grid" data-testid="pools-table">
        <thead>
          <tr>
            <th>limit</th>
            <th>used</th>
            <th>reserved</th>
            <th>capacity</th>
            <th>waiting</th>
            <th>held by</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((u) => (
            <tr>
              <td>
                {label(u)}
                {u.adaptive && (
                  <span class="muted" title={`adaptive (${u.adaptive.algorithm}): the limit moves between ${u.adaptive.min} and ${u.adaptive.max} with observed latency and overload`}>
                    {" "}
                    adaptive {u.adaptive.min}–{u.adaptive.max}
                  </span>
                )}
              </td>
              <td>
                <Meter used={u.used} reserved={u.reserved} capacity={u.capacity} />
              </td>
              <td>{u.reserved}</td>
              <td>{u.capacity}</td>
              <td>{u.waiting}</td>
              <td>
                <HolderLinks holders={u.holders} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Over the last hour</h3>
      <p class="muted">Sampled every second while this server runs: each pool and worker limit, and the host's CPU and memory.</p>
      <div class="charts">
        {(history.data?.series ?? []).map((s) => (
          <PoolChart key={s.key} title={label(s)} t={history.data?.t ?? []} used={s.used} reserved={s.reserved} capacity={s.capacity} />
        ))}
        {history.data && history.data.host.memoryTotalMb > 0 && (
          <>
            <Chart
              key="host-cpu"
              title="host CPU (% of all cores)"
              t={history.data.t}
              max={100}
              lines={[
                { label: "busy", values: history.data.host.cpu.map((v) => v * 100), stroke: "#a0704a", fill: "rgba(160,112,74,0.2)" },
                { label: "I/O wait", values: history.data.host.iowait.map((v) => v * 100), stroke: "#c45ab3" },
              ]}
            />
            <Chart
              key="host-memory"
              title={`host memory used (MB of ${history.data.host.memoryTotalMb})`}
              t={history.data.t}
              max={history.data.host.memoryTotalMb}
              lines={[{ label: "used", values: history.data.host.memoryUsedMb, stroke: "#3fb1a8", fill: "rgba(63,177,168,0.2)" }]}
            />
          </>
        )}
      </div>
    </section>
  );
}

/** A bar: used (solid), reserved (striped), of capacity. */
export function Meter({ used, reserved, capacity }: { used: number; reserved: number; capacity: number }) {
  const pct = (v: number) => `${capacity > 0 ? Math.min(100, (v / capacity) * 100) : 0}%`;
  return (
    <span class="meter" title={`${used} used, ${reserved} reserved, of ${capacity}`}>
      <span class="used" style={{ width: pct(used) }} />
      <span class="reserved" style={{ width: pct(reserved) }} />
      <em>
        {used}/{capacity}
      </em>
    </span>
  );
}
