import type { StartCommand } from "../core/engine/types.js";
import type { ResolvedTask } from "../define/resolved.js";

/** Slots an attempt holds, by pool: from its admitted demand (`pool:<name>`), else its definition. */
export function heldPools(cmd: Pick<StartCommand, "demand">, def: Pick<ResolvedTask, "pools"> | undefined): Record<string, number> {
  const held: Record<string, number> = {};
  for (const d of cmd.demand ?? []) if (d.key.startsWith("pool:")) held[d.key.slice(5)] = d.amount;
  return Object.keys(held).length > 0 || cmd.demand ? held : { ...def?.pools };
}
