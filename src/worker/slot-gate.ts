/**
 * The connections one attempt may have at once in one pool: as many as the slots it holds there,
 * shared by every database tied to that pool (two databases on one pool do not double the cap).
 */
export class SlotGate {
  private used = 0;
  private readonly waiters: Array<() => void> = [];
  private closedWith: Error | undefined;

  constructor(
    readonly pool: string,
    readonly slots: number,
  ) {}

  /** Connections taken (or being opened) now. */
  get inUse(): number {
    return this.used;
  }

  /**
   * Takes one turn, waiting while all `slots` are taken; after `timeoutMs` of waiting rejects with
   * `timeoutError()`; once {@link close}d rejects with its error.
   */
  async acquire(timeoutMs: number, timeoutError: () => Error): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // Re-checked after each wake, in the same turn as `used++`: another checkout may have come first.
    while (this.used >= this.slots && !this.closedWith) await this.wait(deadline, timeoutError);
    if (this.closedWith) throw this.closedWith;
    this.used++;
  }

  /** Gives a turn back and wakes the next waiter. */
  release(): void {
    this.used--;
    this.waiters.shift()?.();
  }

  /** No more turns: waiters and later calls reject with `error`. */
  close(error: Error): void {
    this.closedWith ??= error;
    for (const wake of this.waiters.splice(0)) wake();
  }

  private wait(deadline: number, timeoutError: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(timeoutError());
      }, Math.max(0, deadline - Date.now()));
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(wake);
    });
  }
}
