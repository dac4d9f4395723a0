/** The one concurrency limiter: at most `n` tasks run at once, the rest wait in order. */

export interface Limiter {
  /** Runs `fn` when a slot is free; its result or error is passed on. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

export function limiter(n: number): Limiter {
  const slots = Math.max(1, Math.floor(n));
  let running = 0;
  const waiting: (() => void)[] = [];
  // A finishing task hands its slot straight to the next waiter (first come, first served), so the count
  // of running tasks never goes above n, not even between one task's end and the next one's start.
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      if (running >= slots) await new Promise<void>((resolve) => waiting.push(resolve));
      else running++;
      try {
        return await fn();
      } finally {
        release();
      }
    },
  };
}
