import { test } from "node:test";
import assert from "node:assert/strict";
import { limiter } from "./limit.ts";

/** A task that waits until released by the test. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test("at most n tasks run at once; waiting ones start in order; results and errors pass through", async () => {
  const limit = limiter(2);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const gates = Array.from({ length: 5 }, gate);
  const tasks = gates.map((g, i) =>
    limit.run(async () => {
      started.push(i);
      peak = Math.max(peak, ++running);
      await g.promise;
      running--;
      if (i === 3) throw new Error("task 3 failed");
      return i * 10;
    }),
  );
  const all = Promise.allSettled(tasks);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1]);
  for (const g of gates) {
    g.open();
    await new Promise((r) => setImmediate(r));
  }
  const settled = await all;
  assert.equal(peak, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.deepEqual(settled.map((s) => (s.status === "fulfilled" ? s.value : (s.reason as Error).message)), [0, 10, 20, "task 3 failed", 40]);
});
