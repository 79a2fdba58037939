/**
 * A queue kept in order by `before`, for items that almost always arrive in order (tasks of one
 * admission group arrive by ready time): push appends in O(1) when the item sorts last, else
 * inserts by binary search; pop is O(1). Same surface as {@link Heap}.
 */
export class SortedQueue<T> {
  private items: T[] = [];
  private start = 0;

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length - this.start;
  }

  peek(): T | undefined {
    return this.items[this.start];
  }

  push(item: T): void {
    const items = this.items;
    const last = items[items.length - 1];
    if (this.size === 0 || last === undefined || !this.before(item, last)) {
      items.push(item);
      return;
    }
    let lo = this.start;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.before(item, items[mid] as T)) hi = mid;
      else lo = mid + 1;
    }
    items.splice(lo, 0, item);
  }

  pop(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.start];
    this.items[this.start] = undefined as T;
    this.start++;
    // Compact once the consumed prefix dominates, so memory follows the live size.
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    return item;
  }

  /** Every item, in order. */
  values(): readonly T[] {
    return this.items.slice(this.start);
  }
}
