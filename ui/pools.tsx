/**
 * Pool utilization over time (used, reserved, capacity per pool and worker limit, sampled once a
 * second by the server) with uPlot, and each pool's state now with its holders.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { useApi, type PoolHistory, type ResourceUsage } from "./api.js";
import { HolderLinks } from "./reasons.js";

const label = (u: { kind: string; name: string }) => (u.kind === "pool" ? u.name : u.kind === "queue" ? `worker slots (${u.name})` : u.kind === "memory" ? `worker memory MB (${u.name})` : "parallelism");

function Chart({ title, t, used, reserved, capacity }: { title: string; t: number[]; used: number[]; reserved: number[]; capacity: number[] }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [t.map((v) => v / 1000), used, used.map((u, i) => u + (reserved[i] ?? 0)), capacity];
  useEffect(() => {
    const node = el.current;
    if (!node) return;
    plot.current = new uPlot(
      {
        title,
        width: Math.max(320, node.clientWidth),
        height: 160,
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        series: [
          {},
          { label: "used", stroke: "#2f7fd8", fill: "rgba(47,127,216,0.25)", width: 1.5 },
          { label: "used + reserved", stroke: "#e86a92", width: 1, dash: [4, 3] },
          { label: "capacity", stroke: "#223", width: 1.5 },
        ],
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
  useEffect(() => plot.current?.setData(data), [t, used, reserved, capacity]);
  return <div class="chart" ref={el} />;
}

export function Pools({ tick }: { tick: number }) {
  const usage = useApi<ResourceUsage[]>("/api/pools", tick);
  // The history is sampled once a second: fetching it on every live tick would be wasteful.
  const history = useApi<PoolHistory>(`/api/pools/history?since=${Date.now() - 3_600_000}`, Math.floor(tick / 5));
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
      <p class="muted">Sampled every second while this server runs.</p>
      <div class="charts">
        {(history.data?.series ?? []).map((s) => (
          <Chart key={s.key} title={label(s)} t={history.data?.t ?? []} used={s.used} reserved={s.reserved} capacity={s.capacity} />
        ))}
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
