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
import { firstChild } from "./init.ts";

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
  /** The request's body: text as given, or a JSON value (sent as JSON). Content-Type defaults to application/json when it parses as JSON. */
  body?: string | Record<string, unknown> | unknown[];
  /** Request headers, e.g. { "Authorization": "Bearer …" }; they win over verify's own (Content-Type, Connection). */
  headers?: Record<string, string>;
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
  /** The app's error message, picked out of its output (see appErrorLine), when it printed one. */
  appError?: string;
  /** KiB resident after the checks (VmRSS), the app's (not its init's). Under qemu-user this is qemu's RSS, guest included. */
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
  'as PID 1 a process gets no default SIGTERM action, so the kernel drops the signal: start it under an init (aotpack\'s deb: bases run the app under Debian\'s tini unless "init": false / --no-init), or handle it in the app (process.on("SIGTERM", () => server.close(() => process.exit(0))))';

/** How long a first answer of 5xx may last ("not ready yet") before it is the answer. */
const NOT_READY_MS = 5_000;
/** How long an announced port other than the image's may go on being the only one (some apps open two). */
const OTHER_PORT_MS = 1_000;
/** A progress line this often while nothing answers. */
const HEARTBEAT_MS = 10_000;

/**
 * The port an output line says the app listens on ("listening on 0.0.0.0:3000", "Elysia is running at
 * localhost:3000", "Now listening on: http://localhost:5000", "JSON Server started on PORT :3000").
 */
export function announcedPort(line: string): number | undefined {
  if (!/\b(listen(s|ing)?|running|started|serving|ready|available)\b/i.test(line)) return undefined;
  const m = /(?:https?:\/\/)?(?:\[[0-9a-f:]*\]|[\w.-]+)?:(\d{2,5})\b|\bport\s*:?\s*(\d{2,5})\b/i.exec(line);
  const port = Number(m?.[1] ?? m?.[2]);
  return port > 0 && port < 65536 ? port : undefined;
}

/**
 * The app's own error message among its output: the last line that reads like one (Bun's "error: …",
 * Node's "TypeError [ERR_X]: …", .NET's "Unhandled exception. System.…"). A Bun crash ends in stack frames
 * and "Bun v1.x (Linux x64)", so the message itself is above the last lines.
 */
export function appErrorLine(lines: readonly string[]): string | undefined {
  const re = /^\s*(?:Unhandled exception\.\s+\S|(?:error|panic|fatal)(?:\[\w+\])?:\s+\S|(?:Uncaught )?[A-Za-z_$][\w$.]*(?:Error|Exception)(?: \[[\w-]+\])?:\s+\S)/i;
  const line = [...lines].reverse().find((l) => re.test(l) && !/^\s+at\s/.test(l));
  return line === undefined ? undefined : line.trim().slice(0, 400);
}

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
  const body = c.body === undefined ? "" : ` (body ${Buffer.byteLength(requestBody(c).bytes)} B)`;
  return `${(c.method ?? "GET").toUpperCase()} ${c.path}${body} → ${expect}`;
}

/** The bytes a check sends and their default content type. */
function requestBody(c: HttpCheck): { bytes: string; contentType: string } {
  if (c.body === undefined) return { bytes: "", contentType: "" };
  if (typeof c.body !== "string") return { bytes: JSON.stringify(c.body), contentType: "application/json" };
  let json = true;
  try {
    JSON.parse(c.body);
  } catch {
    json = false;
  }
  return { bytes: c.body, contentType: json ? "application/json" : "text/plain; charset=utf-8" };
}

interface HttpResponse {
  status: number;
  contentType: string;
  body: string;
}

function httpRequest(port: number, check: HttpCheck, timeoutMs: number): Promise<HttpResponse> {
  const body = requestBody(check);
  const headers: Record<string, string> = { connection: "close" };
  if (check.body !== undefined) Object.assign(headers, { "content-type": body.contentType, "content-length": String(Buffer.byteLength(body.bytes)) });
  // The check's own headers win, whatever their case.
  for (const [k, v] of Object.entries(check.headers ?? {})) {
    for (const own of Object.keys(headers)) if (own.toLowerCase() === k.toLowerCase()) delete headers[own];
    headers[k] = v;
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: (check.method ?? "GET").toUpperCase(), path: check.path, agent: false, timeout: timeoutMs, headers }, (res) => {
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
    req.end(body.bytes);
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
    // What the app announces as its port, seen as it prints it (Elysia's listen(3000) in an image that says 8080).
    let announced: { port: number; line: string; at: number } | undefined;
    const onOutput = (line: string, stream: "stdout" | "stderr"): void => {
      const port = announcedPort(line);
      if (port !== undefined && port !== containerPort && !announced) announced = { port, line: line.trim().slice(0, 200), at: performance.now() };
      options.onOutput?.(line, stream);
    };
    running = await startImage({ keepLogLines: 200, ...options, onOutput, resources, platform, ports: [{ host: 0, container: containerPort }] });
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
    let notReadySince: number | undefined;
    let nextHeartbeat = startedAt + HEARTBEAT_MS;
    while (!firstResult) {
      if (exitedEarly) {
        const appError = appErrorLine(running.logLines());
        throw new AotpackError(`the app exited with code ${exitedEarly.exitCode} before it answered on port ${containerPort}${appError ? `: ${appError}` : ""}`);
      }
      const now = performance.now();
      if (announced && now - announced.at > OTHER_PORT_MS) {
        throw new AotpackError(`the app says it listens on port ${announced.port} (${JSON.stringify(announced.line)}), but nothing answers on port ${containerPort}, the image's port`, {
          hint: `make the app listen on process.env.PORT (the image sets PORT=${containerPort}), or build with --port ${announced.port} (the "port" key); \`verify --port ${announced.port}\` checks that port`,
        });
      }
      if (notReadySince !== undefined && lastNotReady && now - notReadySince > NOT_READY_MS) {
        firstResult = { ...lastNotReady, detail: `${lastNotReady.detail} (it kept answering ${lastNotReady.status} for ${NOT_READY_MS / 1000} s)` };
        break;
      }
      if (now > nextHeartbeat) {
        nextHeartbeat = now + HEARTBEAT_MS;
        const last = running.logLines().filter((l) => l.trim() !== "").pop();
        progress(`${name}: no answer on port ${containerPort} yet (${Math.round((now - startedAt) / 1000)} s of ${timeoutMs / 1000} s)${last ? `; the app's last output: ${JSON.stringify(last.slice(0, 200))}` : ""}`);
      }
      if (now - startedAt > timeoutMs) {
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
        response = await httpRequest(hostPort, first, requestTimeoutMs);
      } catch {
        // not listening yet (or the relay found nothing behind it)
      }
      if (response) {
        const result = judge(first, response);
        if (result.ok || response.status < 500 || (first.expectStatus ?? 200) >= 500) firstResult = result;
        else {
          if (notReadySince === undefined) {
            // Said at once: a 5xx may be warming up, or the answer (json-server's home page said 500 every time).
            notReadySince = performance.now();
            const body = response.body.trim().split("\n")[0]!.slice(0, 120);
            progress(`${name}: ${(first.method ?? "GET").toUpperCase()} ${first.path} answered ${response.status}${body ? ` ${body}` : ""}: not ready yet? waiting up to ${NOT_READY_MS / 1000} s for a good answer`);
          }
          lastNotReady = result;
        }
      }
      if (!firstResult) await sleep(100);
    }
    report.checks.push(firstResult);
    if (report.checks[0]?.ok) report.startupMs = Math.round(performance.now() - startedAt);
    for (const check of checks.slice(1)) {
      try {
        report.checks.push(judge(check, await httpRequest(hostPort, check, requestTimeoutMs)));
      } catch (err) {
        report.checks.push({ check: describeCheck(check), ok: false, detail: errorMessage(err) });
      }
    }
    // Under an init the app is its child: its RSS, not tini's.
    Object.assign(report, await readRss((running.init ? await firstChild(running.pid) : undefined) ?? running.pid));

    // As PID 1 (namespaces, no init) a SIGTERM before the app's handler exists is lost: wait for it.
    const pid1 = running.isolation !== "host" && !running.init;
    if (pid1) await waitUntilReadyForSigterm(running.pid, running.emulated);
    progress(`${name}: sending SIGTERM`);
    const graceMs = options.stopGraceMs ?? 5_000;
    const stopStart = performance.now();
    running.signal("SIGTERM");
    const stopped = await waitForStop(running, graceMs, pid1 && running.emulated);
    if (stopped === "qemu-stuck") {
      report.error =
        "SIGTERM's default action came to PID 1 under qemu-user (the app had no SIGTERM handler then, or re-raised SIGTERM after its own, as Nest's enableShutdownHooks() does): qemu-user then waits forever";
      report.hint = SIGTERM_ADVICE;
    } else if (!stopped && running.init) {
      // Not PID 1: tini passed SIGTERM on, and its default action would have ended the app. Its own handler did not.
      report.error = `the app did not exit within ${graceMs / 1000} s of SIGTERM (${running.init} passed it on: the app's own SIGTERM handler, or its ignoring it, kept it running)`;
      report.hint = "end the process in the handler once the server is closed (server.close(() => process.exit(0))), or give it longer with --grace";
    } else if (!stopped) {
      report.error = `the app did not exit within ${graceMs / 1000} s of SIGTERM`;
      report.hint = SIGTERM_ADVICE;
    } else {
      report.stopMs = Math.round(performance.now() - stopStart);
      report.exitCode = stopped.exitCode;
      if (stopped.exitCode !== 0 && stopped.exitCode !== 143) report.error = `the app exited with code ${stopped.exitCode} after SIGTERM (expected 0)`;
    }
    const failed = report.checks.find((c) => !c.ok);
    if (failed && !report.error) {
      report.error = `check failed: ${failed.check}: ${failed.detail}`;
      // A 5xx is the app failing: what it printed about it is the cause.
      const appError = (failed.status ?? 0) >= 500 ? appErrorLine(running.logLines()) : undefined;
      if (appError) report.error += ` (the app's error: ${JSON.stringify(appError)})`;
    }
    report.ok = !report.error && report.checks.every((c) => c.ok);
  } catch (err) {
    report.error = errorMessage(err);
    if (err instanceof AotpackError && err.hint) report.hint = err.hint;
    const lines = running?.logLines() ?? [];
    const appError = appErrorLine(lines);
    const lastLine = lines.filter((l) => l.trim() !== "").pop();
    if (appError !== undefined && !report.error.includes(appError)) report.error += ` (the app's error: ${JSON.stringify(appError)})`;
    else if (appError === undefined && lastLine !== undefined) report.error += ` (the app's last output: ${JSON.stringify(lastLine)})`;
  } finally {
    if (running) {
      report.lastLogLines = running.logLines().slice(-10);
      const appError = appErrorLine(running.logLines());
      if (appError !== undefined && !report.ok) report.appError = appError;
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
