import type { Entry } from "./admission.js";
import { ranksAbove } from "./admission.js";

/** Up to this many reservations, {@link Reservations.heldAbove} walks them instead of using sums. */
const SCAN_BELOW = 16;

/** One reservation: capacity of a resource held back for a waiting group head. */
export interface Reservation {
  entry: Entry;
  amount: number;
}

/**
 * A resource's reservations, kept in rank order (best first) with running sums, so "how much is
 * held for tasks ranked above this one" — asked for every candidate admission examines — is a
 * binary search instead of a scan of every reservation. Rank is fixed per entry (aging is linear
 * and the same for every task, see `ranksAbove`), so the order never needs re-sorting.
 *
 * Sums are rebuilt lazily after a change, once, on the next question: changes (a head reserves,
 * is admitted or leaves) are far rarer than questions.
 */
export class Reservations {
  readonly #byId = new Map<string, Reservation>();
  #ranked: Reservation[] = [];
  /** `#sums[i]` = amount of the `i` best-ranked reservations; `undefined` after a change. */
  #sums: number[] | undefined = [0];

  constructor(private readonly rate: number) {}

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): Reservation | undefined {
    return this.#byId.get(id);
  }

  keys(): IterableIterator<string> {
    return this.#byId.keys();
  }

  values(): IterableIterator<Reservation> {
    return this.#byId.values();
  }

  /** Reserve `amount` for `entry` (replacing what it had reserved here). */
  set(id: string, reservation: Reservation): void {
    this.delete(id);
    this.#byId.set(id, reservation);
    this.#ranked.splice(this.#countAbove(reservation.entry), 0, reservation);
    this.#sums = undefined;
  }

  /** Drop `id`'s reservation; false when it had none. */
  delete(id: string): boolean {
    const existing = this.#byId.get(id);
    if (!existing) return false;
    this.#byId.delete(id);
    const at = this.#countAbove(existing.entry);
    // Entries rank in a total order (seq breaks ties), so the reservation sits exactly there.
    if (this.#ranked[at] === existing) this.#ranked.splice(at, 1);
    else this.#ranked = this.#ranked.filter((r) => r !== existing);
    this.#sums = undefined;
    return true;
  }

  /** How much is held for tasks ranked above `entry` (its own reservation not counted). */
  heldAbove(entry: Entry): number {
    const n = this.#ranked.length;
    if (n === 0) return 0;
    if (n <= SCAN_BELOW) {
      // A few reservations (the usual case): walking them beats building the sums.
      let sum = 0;
      for (const r of this.#ranked) {
        if (!ranksAbove(r.entry, entry, this.rate)) break;
        sum += r.amount;
      }
      return sum;
    }
    return this.#prefix()[this.#countAbove(entry)] ?? 0;
  }

  /** The ids of the tasks ranked above `entry` that hold reservations here, best first (at most `limit`), and how many there are. */
  holdersAbove(entry: Entry, limit: number): { ids: string[]; total: number } {
    const total = this.#countAbove(entry);
    return { ids: this.#ranked.slice(0, Math.min(total, limit)).map((r) => r.entry.id), total };
  }

  /** How many reservations rank above `entry`: the index it has, or would have, in `#ranked`. */
  #countAbove(entry: Entry): number {
    let lo = 0;
    let hi = this.#ranked.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ranksAbove((this.#ranked[mid] as Reservation).entry, entry, this.rate)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #prefix(): number[] {
    if (this.#sums) return this.#sums;
    const sums = new Array<number>(this.#ranked.length + 1);
    sums[0] = 0;
    for (let i = 0; i < this.#ranked.length; i++) sums[i + 1] = (sums[i] as number) + (this.#ranked[i] as Reservation).amount;
    return (this.#sums = sums);
  }
}
