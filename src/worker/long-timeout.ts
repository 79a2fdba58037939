/**
 * `setTimeout` for any delay up to Sluice's 365-day maximum. Node clamps a delay of 2^31 ms
 * (24.8 days) or more to 1 ms, which once made a `timeout: "25d"` task time out at once; this
 * chains timers of at most a day instead.
 */
const STEP_MS = 86_400_000;

/** A cancellable long timer; `unref()` lets the process exit while it waits. */
export interface LongTimeout {
  clear(): void;
  unref(): LongTimeout;
}

export function setLongTimeout(fn: () => void, delayMs: number): LongTimeout {
  const due = Date.now() + Math.max(0, delayMs);
  let timer: NodeJS.Timeout;
  let unref = false;
  const arm = (): void => {
    const left = due - Date.now();
    timer = setTimeout(left > STEP_MS ? arm : fn, Math.max(0, Math.min(left, STEP_MS)));
    if (unref) timer.unref();
  };
  arm();
  const handle: LongTimeout = {
    clear: () => clearTimeout(timer),
    unref: () => {
      unref = true;
      timer.unref();
      return handle;
    },
  };
  return handle;
}
