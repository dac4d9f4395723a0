/**
 * When verify may send SIGTERM, read from the host's /proc. An app can serve before its
 * SIGTERM handler exists: Fastify's `await app.listen(); process.on("SIGTERM", …)` answers
 * requests first (under qemu-user for ~0.1 s). As PID 1 of its namespace a SIGTERM in that
 * window is dropped by the kernel (native), or, under qemu-user, makes qemu apply the
 * default action — reset the host handler, kill itself, sigsuspend — which the kernel
 * ignores for PID 1, so the process hangs for good. No orchestrator stops an app within
 * 0.1 s of its first answer; verify waits until the app is ready for the signal:
 *   - native: its SigCgt has SIGTERM (it has a handler);
 *   - qemu-user: qemu catches every signal, so SigCgt says nothing of the guest: wait
 *     until every thread is asleep and no CPU time moves (the app's start-up work is done).
 * Both bounded: an app that never gets a handler is sent SIGTERM anyway, and fails.
 */
import { readdir, readFile } from "node:fs/promises";

const SIGTERM_BIT = 1n << 14n; // signal 15

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** SigCgt/SigIgn of `pid`, or undefined when it is gone. */
async function signalMasks(pid: number): Promise<{ caught: bigint; ignored: bigint } | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => undefined);
  if (status === undefined) return undefined;
  const mask = (key: string): bigint => BigInt(`0x${new RegExp(`^${key}:\\s*([0-9a-f]+)`, "m").exec(status)?.[1] ?? "0"}`);
  return { caught: mask("SigCgt"), ignored: mask("SigIgn") };
}

/** Whether any thread of `pid` runs or waits for a CPU, and the CPU ticks all have used. */
async function activity(pid: number): Promise<{ busy: boolean; ticks: number } | undefined> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => undefined);
  if (!tids) return undefined;
  let busy = false;
  let ticks = 0;
  for (const tid of tids) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => "");
    // The name (field 2) may hold spaces and parentheses: fields start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "R" || fields[0] === "D") busy = true;
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0); // utime, stime
  }
  return { busy, ticks };
}

/** Resolves once `pid` looks ready for SIGTERM (see the module comment), or after `boundMs`. */
export async function waitUntilReadyForSigterm(pid: number, emulated: boolean, boundMs = 3_000): Promise<void> {
  const deadline = performance.now() + boundMs;
  let quietSamples = 0;
  let lastTicks = -1;
  while (performance.now() < deadline) {
    if (!emulated) {
      const masks = await signalMasks(pid);
      if (!masks || masks.caught & SIGTERM_BIT) return;
    } else {
      const now = await activity(pid);
      if (!now) return;
      quietSamples = !now.busy && now.ticks === lastTicks ? quietSamples + 1 : 0;
      lastTicks = now.ticks;
      if (quietSamples >= 3) return; // ~150 ms asleep, no CPU tick
    }
    await sleep(50);
  }
}

/**
 * After SIGTERM under qemu-user: true when qemu took the guest's default action (its host
 * SIGTERM is back to SIG_DFL, neither caught nor ignored) yet is still alive — as PID 1 it
 * now waits forever in sigsuspend for a death the kernel will not deliver.
 */
export async function qemuStuckOnDefaultAction(pid: number): Promise<boolean> {
  const masks = await signalMasks(pid);
  return masks !== undefined && (masks.caught & SIGTERM_BIT) === 0n && (masks.ignored & SIGTERM_BIT) === 0n;
}
