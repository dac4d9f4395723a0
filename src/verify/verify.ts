/**
 * `aotpack verify`: for each platform, start the image, wait for its port, run HTTP checks,
 * measure startup time and RSS, then require a prompt exit on SIGTERM.
 */
import { request } from "node:http";
import { readFile } from "node:fs/promises";
import { escapeControls } from "../ansi.ts";
import { AotpackError, UsageError, errorMessage } from "../errors.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import type { Emulation } from "./host.ts";
import { listPlatforms, selectPlatformImage, startImage, type ExitStatus, type Isolation, type RunningImage, type StartOptions } from "./run.ts";
import type { ResourceLimits } from "./bundle.ts";
import { formatSize } from "./unpack.ts";
import { qemuStuckOnDefaultAction, waitUntilReadyForSigterm } from "./stop-readiness.ts";

export interface HttpCheck {
  /** Default GET. */
  method?: string;
  /** Request path, e.g. "/todos". */
  path: string;
  /** Default 200. */
  expectStatus?: number;
  /** The content-type must start with this, e.g. "application/json". */
  expectContentType?: string;
  /** The body must parse as JSON of this kind. */
  expectJsonType?: "array" | "object";
  /** The body must contain this text. */
  expectBody?: string;
}

export interface CheckResult {
  check: string;
  ok: boolean;
  /** What was wrong, or what came back. */
  detail: string;
  status?: number;
}

export interface PlatformReport {
  platform: string;
  ok: boolean;
  /** The first failure, one line (a diagnosis, a failed check, a stop failure). */
  error?: string;
  hint?: string;
  checks: CheckResult[];
  /** Milliseconds from starting the process to the first good HTTP response. */
  startupMs?: number;
  /** KiB resident after the checks (VmRSS). Under qemu-user this is qemu's RSS, guest included. */
  rssKiB?: number;
  /** KiB peak resident (VmHWM), read just before SIGTERM. */
  peakRssKiB?: number;
  /** Milliseconds from SIGTERM to exit. */
  stopMs?: number;
  exitCode?: number;
  isolation?: Isolation;
  /** What the sandbox held, e.g. "runc: userns (0-65535 → host 1000000000+) + pivot_root, …, caps dropped, no_new_privs, seccomp, …". */
  isolationDetail?: string;
  emulated?: boolean;
  /** "native", "binfmt" (kernel runs qemu, F flag) or "qemu" (we start qemu-user). */
  emulation?: Emulation["kind"];
  lastLogLines: string[];
}

export interface VerifyReport {
  ok: boolean;
  platforms: PlatformReport[];
}

export interface VerifyOptions extends Omit<StartOptions, "platform" | "ports" | "image"> {
  image: Image | ImageIndex;
  /** Default "all" (every runnable platform of an index). */
  platforms?: Platform[] | "all";
  /** The app's port inside the image; default: first ExposedPorts tcp, then $PORT from Env, then 8080. */
  port?: number;
  /** Default: GET / expecting 200. */
  checks?: HttpCheck[];
  /** Bound on the wait for the first good response (default 30 s: qemu is slow to start big binaries). */
  timeoutMs?: number;
  /** How long the app may take to exit after SIGTERM (default 5 s). */
  stopGraceMs?: number;
  /** Per-request bound (default 5 s). */
  requestTimeoutMs?: number;
  /** Progress lines ("linux/arm64: starting under qemu …"). */
  onProgress?: (message: string) => void;
}

/** verify's sandbox limits unless told otherwise (--memory 0 / --pids-limit 0 turn one off). */
export const DEFAULT_VERIFY_RESOURCES: ResourceLimits = { memoryBytes: 1024 ** 3, pids: 1024 };

const SIGTERM_ADVICE =
  'as PID 1 a process gets no default SIGTERM action, so the kernel drops the signal: handle it in the app (process.on("SIGTERM", () => server.close(() => process.exit(0)))) or start it under an init such as tini';

/** Parse `--http` values: "GET /todos", "/todos" (GET), "DELETE /todos/1". */
/** `[METHOD] /path [STATUS] [array|object]`, e.g. "GET /todos 200 array" or "/todos/9 404". */
export function parseHttpCheck(spec: string): HttpCheck {
  const m = /^(?:([A-Za-z]+)\s+)?(\/\S*)((?:\s+\S+)*)$/.exec(spec.trim());
  const usage = `expected "[METHOD] /path [STATUS] [array|object]", e.g. "GET /todos 200 array"`;
  if (!m?.[2]) throw new UsageError(`invalid HTTP check "${spec}": ${usage}`);
  const check: HttpCheck = { method: (m[1] ?? "GET").toUpperCase(), path: m[2] };
  for (const word of (m[3] ?? "").trim().split(/\s+/).filter(Boolean)) {
    if (/^\d{3}$/.test(word)) check.expectStatus = Number(word);
    else if (word === "array" || word === "object") check.expectJsonType = word;
    else throw new UsageError(`invalid HTTP check "${spec}": unknown expectation "${word}"; ${usage}`);
  }
  return check;
}

export function describeCheck(c: HttpCheck): string {
  const expect = [String(c.expectStatus ?? 200), c.expectContentType, c.expectJsonType && `JSON ${c.expectJsonType}`, c.expectBody && `body ∋ ${JSON.stringify(c.expectBody)}`]
    .filter(Boolean)
    .join(", ");
  return `${(c.method ?? "GET").toUpperCase()} ${c.path} → ${expect}`;
}

interface HttpResponse {
  status: number;
  contentType: string;
  body: string;
}

function httpRequest(port: number, method: string, path: string, timeoutMs: number): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, agent: false, timeout: timeoutMs, headers: { connection: "close" } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= 1 << 20) chunks.push(c); // keep the first MiB: enough to judge, bounded
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

export function judge(check: HttpCheck, res: HttpResponse): CheckResult {
  const name = describeCheck(check);
  const problems: string[] = [];
  const wantStatus = check.expectStatus ?? 200;
  if (res.status !== wantStatus) problems.push(`status ${res.status}, expected ${wantStatus}`);
  if (check.expectContentType && !res.contentType.toLowerCase().startsWith(check.expectContentType.toLowerCase())) {
    problems.push(`content-type "${res.contentType}", expected ${check.expectContentType}`);
  }
  if (check.expectJsonType) {
    let kind: string;
    try {
      const v: unknown = JSON.parse(res.body);
      kind = Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
    } catch {
      kind = "not JSON";
    }
    if (kind !== check.expectJsonType) problems.push(`body is ${kind}, expected a JSON ${check.expectJsonType}`);
  }
  if (check.expectBody !== undefined && !res.body.includes(check.expectBody)) problems.push(`body does not contain ${JSON.stringify(check.expectBody)}`);
  return problems.length === 0
    ? { check: name, ok: true, detail: `${res.status} ${res.contentType}`.trim(), status: res.status }
    : { check: name, ok: false, detail: problems.join("; "), status: res.status };
}

async function readRss(pid: number): Promise<{ rssKiB?: number; peakRssKiB?: number }> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const field = (k: string): number | undefined => {
      const m = new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status);
      return m?.[1] ? Number(m[1]) : undefined;
    };
    return { rssKiB: field("VmRSS"), peakRssKiB: field("VmHWM") };
  } catch {
    return {};
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function containerPortOf(options: VerifyOptions, platform: Platform): Promise<number> {
  if (options.port) return options.port;
  const { config } = await selectPlatformImage(options.image, platform);
  const exposed = Object.keys(config.config?.ExposedPorts ?? {}).find((k) => k.endsWith("/tcp") || !k.includes("/"));
  if (exposed) return Number.parseInt(exposed, 10);
  const portEnv = (config.config?.Env ?? []).find((e) => e.startsWith("PORT="));
  if (portEnv && /^\d+$/.test(portEnv.slice(5))) return Number(portEnv.slice(5));
  return 8080;
}

/** The exit status, undefined after `graceMs`, or "qemu-stuck" as soon as qemu-user hangs on the default action. */
async function waitForStop(running: RunningImage, graceMs: number, watchQemu: boolean): Promise<ExitStatus | "qemu-stuck" | undefined> {
  let status: ExitStatus | undefined;
  void running.exited.then((s) => (status = s));
  const deadline = performance.now() + graceMs;
  while (!status && performance.now() < deadline) {
    await Promise.race([running.exited, sleep(Math.min(50, Math.max(0, deadline - performance.now())))]);
    // Still alive with qemu's SIGTERM back at SIG_DFL: qemu is in sigsuspend for good.
    if (!status && watchQemu && (await qemuStuckOnDefaultAction(running.pid))) return "qemu-stuck";
  }
  return status;
}

/** Verify every requested platform, one after the other; never throws for a failing image, only reports. */
export async function verifyImage(options: VerifyOptions): Promise<VerifyReport> {
  const platforms = options.platforms === undefined || options.platforms === "all" ? await listPlatforms(options.image) : options.platforms;
  const reports: PlatformReport[] = [];
  for (const platform of platforms) reports.push(await verifyPlatform(options, platform));
  return { ok: reports.length > 0 && reports.every((r) => r.ok), platforms: reports };
}

async function verifyPlatform(options: VerifyOptions, platform: Platform): Promise<PlatformReport> {
  const name = formatPlatform(platform);
  const progress = options.onProgress ?? (() => {});
  const checks = options.checks?.length ? options.checks : [{ path: "/" }];
  const report: PlatformReport = { platform: name, ok: false, checks: [], lastLogLines: [] };
  let running: RunningImage | undefined;
  let exit: ExitStatus | undefined;
  const resources = { ...DEFAULT_VERIFY_RESOURCES, ...options.resources };
  try {
    const containerPort = await containerPortOf(options, platform);
    progress(`${name}: unpacking and starting`);
    running = await startImage({ ...options, resources, platform, ports: [{ host: 0, container: containerPort }] });
    void running.exited.then((s) => (exit = s));
    const startedAt = running.startedAt;
    report.isolation = running.isolation;
    report.isolationDetail = running.isolationDetail;
    report.emulated = running.emulated;
    report.emulation = running.emulation;
    if (running.isolation === "host") {
      options.onWarning?.("without a PID namespace the app is not PID 1, so an app that ignores SIGTERM as PID 1 cannot be caught here");
    }
    const hostPort = running.ports[0]?.host as number;
    progress(`${name}: started (${running.isolationDetail}${running.emulated ? ", under qemu-user" : ""}), waiting for port ${containerPort}`);

    // Wait for the first response, bounded; an early exit ends the wait at once.
    const timeoutMs = options.timeoutMs ?? 30_000;
    const requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    const first = checks[0] as HttpCheck;
    let exitedEarly: { exitCode: number } | undefined;
    void running.exited.then((s) => (exitedEarly = s));
    // A 5xx is "not ready yet" (warming up behind a proxy-like handler): keep waiting for a good one.
    let firstResult: CheckResult | undefined;
    let lastNotReady: CheckResult | undefined;
    while (!firstResult) {
      if (exitedEarly) {
        throw new AotpackError(`the app exited with code ${exitedEarly.exitCode} before it answered on port ${containerPort}`);
      }
      if (performance.now() - startedAt > timeoutMs) {
        if (lastNotReady) {
          firstResult = lastNotReady;
          break;
        }
        throw new AotpackError(`no HTTP response on port ${containerPort} within ${timeoutMs / 1000} s: the app never opened its port`, {
          hint: "check that the app listens on 0.0.0.0 (or ::) and on the port the image declares (--port)",
        });
      }
      let response: HttpResponse | undefined;
      try {
        response = await httpRequest(hostPort, first.method ?? "GET", first.path, requestTimeoutMs);
      } catch {
        // not listening yet (or the relay found nothing behind it)
      }
      if (response) {
        const result = judge(first, response);
        if (result.ok || response.status < 500 || (first.expectStatus ?? 200) >= 500) firstResult = result;
        else lastNotReady = result;
      }
      if (!firstResult) await sleep(100);
    }
    report.checks.push(firstResult);
    if (report.checks[0]?.ok) report.startupMs = Math.round(performance.now() - startedAt);
    for (const check of checks.slice(1)) {
      try {
        report.checks.push(judge(check, await httpRequest(hostPort, check.method ?? "GET", check.path, requestTimeoutMs)));
      } catch (err) {
        report.checks.push({ check: describeCheck(check), ok: false, detail: errorMessage(err) });
      }
    }
    Object.assign(report, await readRss(running.pid));

    // As PID 1 (namespaces) a SIGTERM before the app's handler exists is lost: wait for it.
    const pid1 = running.isolation !== "host";
    if (pid1) await waitUntilReadyForSigterm(running.pid, running.emulated);
    progress(`${name}: sending SIGTERM`);
    const graceMs = options.stopGraceMs ?? 5_000;
    const stopStart = performance.now();
    running.signal("SIGTERM");
    const stopped = await waitForStop(running, graceMs, pid1 && running.emulated);
    if (stopped === "qemu-stuck") {
      report.error = "the app had no SIGTERM handler when SIGTERM came: qemu-user took the default action, which never ends PID 1, so it hangs";
      report.hint = SIGTERM_ADVICE;
    } else if (!stopped) {
      report.error = `the app did not exit within ${graceMs / 1000} s of SIGTERM`;
      report.hint = SIGTERM_ADVICE;
    } else {
      report.stopMs = Math.round(performance.now() - stopStart);
      report.exitCode = stopped.exitCode;
      if (stopped.exitCode !== 0 && stopped.exitCode !== 143) report.error = `the app exited with code ${stopped.exitCode} after SIGTERM (expected 0)`;
    }
    const failed = report.checks.find((c) => !c.ok);
    if (failed && !report.error) report.error = `check failed: ${failed.check}: ${failed.detail}`;
    report.ok = !report.error && report.checks.every((c) => c.ok);
  } catch (err) {
    report.error = errorMessage(err);
    if (err instanceof AotpackError && err.hint) report.hint = err.hint;
    const lastLine = running?.logLines().filter((l) => l.trim() !== "").pop();
    if (lastLine !== undefined) report.error += ` (the app's last output: ${JSON.stringify(lastLine)})`;
  } finally {
    if (running) {
      report.lastLogLines = running.logLines().slice(-10);
      await running.close();
    }
  }
  // Whatever failed first, an OOM kill is the cause: one line naming the limit.
  if (exit?.oomKilled) {
    report.ok = false;
    report.error = `the app was killed by the kernel's OOM killer: it went over the sandbox's ${formatSize(resources.memoryBytes ?? 0)} memory limit`;
    report.hint = "raise the limit with --memory (e.g. --memory 2GiB), or --memory 0 for none";
  }
  return report;
}

/** A table per platform; every metric names its unit. */
export function formatVerifyReport(report: VerifyReport): string {
  const out: string[] = [];
  for (const p of report.platforms) {
    const how = p.isolationDetail ? ` (${p.emulation === "binfmt" ? "qemu-user via binfmt_misc" : p.emulated ? "qemu-user" : "native"})` : "";
    out.push(`${p.platform}: ${p.ok ? "PASS" : "FAIL"}${how}`);
    if (p.isolationDetail) out.push(`  isolation: ${p.isolationDetail}`);
    const rows: [string, string][] = [];
    for (const c of p.checks) rows.push([c.check, `${c.ok ? "ok" : "FAIL"}: ${c.detail}`]);
    const num = (n: number | undefined): string => (n === undefined ? "-" : n.toLocaleString("en-US"));
    rows.push(["startup to first good response (ms)", num(p.startupMs)]);
    rows.push([`RSS after checks (KiB)${p.emulated ? " [qemu's, guest included]" : ""}`, num(p.rssKiB)]);
    rows.push(["peak RSS, VmHWM (KiB)", num(p.peakRssKiB)]);
    rows.push(["stop after SIGTERM (ms)", num(p.stopMs)]);
    rows.push(["exit code", p.exitCode === undefined ? "-" : String(p.exitCode)]);
    const width = Math.max(...rows.map((r) => r[0].length));
    for (const [k, v] of rows) out.push(`  ${k.padEnd(width)}  ${v}`);
    if (p.error) out.push(`  error: ${p.error}`);
    if (p.hint) out.push(`  hint: ${p.hint}`);
    if (!p.ok && p.lastLogLines.length > 0) {
      out.push("  last output of the app:");
      for (const l of p.lastLogLines) out.push(`    | ${l}`);
    }
  }
  out.push(report.ok ? "verify: all platforms passed" : "verify: FAILED");
  // Details, errors and the app's own lines come from the image: escaped, one line each.
  return out.map(escapeControls).join("\n");
}
