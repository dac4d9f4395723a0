/**
 * Progress for long work. On a TTY: a live task list per platform, redrawn in place, and
 * byte counters for uploads. Otherwise (CI, pipes, --json): plain lines, one per event,
 * on stderr so stdout stays clean for results.
 */
import { formatBytes } from "../bytes.ts";
import { escapeControls } from "../ansi.ts";
import type { Writable } from "node:stream";
import type { BuildReporter, BuildStep } from "../builder/build.ts";
import type { ProgressEvent } from "../publish/index.ts";

const STEPS: BuildStep[] = ["compile", "base", "layer", "image"];
type State = "pending" | "start" | "done" | "cached" | "failed";

const ICON: Record<State, string> = { pending: "·", start: "…", done: "✓", cached: "✓", failed: "✗" };

export { formatBytes };

/**
 * The one way a message reaches stderr: escaped (it may quote an image, a registry or an app), one
 * line. ProgressView and the commands' progress and warning callbacks write through it.
 */
export function printLine(out: Writable, text: string): void {
  out.write(`${escapeControls(text)}\n`);
}

/** A command's warning callback: `warning: …` lines on its stderr. */
export function warnTo(ctx: { io: { stderr: Writable } }): (message: string) => void {
  return (message) => printLine(ctx.io.stderr, `warning: ${message}`);
}

export class ProgressView implements BuildReporter {
  readonly #out: Writable & { isTTY?: boolean; columns?: number };
  readonly #live: boolean;
  #rows = new Map<string, Map<BuildStep, { state: State; detail?: string; since?: number }>>();
  /** On a TTY, running steps show their elapsed seconds; this redraws them. */
  #ticker: NodeJS.Timeout | undefined;
  #drawn = 0;
  #notes: string[] = [];
  #uploads = new Map<string, { done: number; total: number; skipped?: boolean }>();
  #lastDraw = 0;

  constructor(out: Writable & { isTTY?: boolean }, options: { live?: boolean } = {}) {
    this.#out = out;
    this.#live = options.live ?? Boolean(out.isTTY && !process.env.CI);
  }

  step(platform: string, step: BuildStep, state: "start" | "done" | "cached" | "failed", detail?: string): void {
    let row = this.#rows.get(platform);
    if (!row) {
      row = new Map(STEPS.map((s) => [s, { state: "pending" as State }]));
      this.#rows.set(platform, row);
    }
    row.set(step, { state, ...(detail === undefined ? {} : { detail }), ...(state === "start" ? { since: Date.now() } : {}) });
    if (this.#live) {
      if (!this.#ticker) {
        this.#ticker = setInterval(() => this.#redraw(true), 500);
        this.#ticker.unref();
      }
      this.#redraw(true);
    }
    else if (state !== "start") this.#line(`${platform}: ${step} ${state}${detail ? ` (${detail})` : ""}`);
  }

  info(message: string): void {
    if (this.#live) {
      this.#notes = [...this.#notes, message].slice(-3);
      this.#redraw(false);
    } else this.#line(message);
  }

  warn(message: string): void {
    this.#clear();
    printLine(this.#out, `warning: ${message}`);
    this.#drawn = 0;
    if (this.#live) this.#redraw(true);
  }

  /** Publisher progress: bytes per blob and in total. */
  publish(target: string, e: ProgressEvent): void {
    if (e.kind === "manifest") {
      if (!this.#live) this.#line(`${target}: manifest ${e.digest.slice(0, 19)}`);
      return;
    }
    const entry: { done: number; total: number; skipped?: boolean } = { done: e.done, total: e.total };
    if (e.skipped) entry.skipped = true;
    this.#uploads.set(e.digest, entry);
    if (this.#live) {
      let done = 0;
      let total = 0;
      for (const u of this.#uploads.values()) {
        done += u.done;
        total += u.total;
      }
      this.#notes = [`${target}: ${formatBytes(done)} / ${formatBytes(total)} in ${this.#uploads.size} blobs`];
      this.#redraw(false);
    } else if (e.skipped || e.done === e.total) {
      this.#line(`${target}: blob ${e.digest.slice(0, 19)} ${formatBytes(e.total)}${e.skipped ? " (already there)" : ""}`);
    }
  }

  /** Leave the final task list on screen and stop redrawing. */
  finish(): void {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
    if (this.#live) {
      this.#notes = [];
      this.#redraw(true);
    }
    this.#drawn = 0;
  }

  #line(text: string): void {
    printLine(this.#out, text);
  }

  #clear(): void {
    if (this.#live && this.#drawn > 0) this.#out.write(`\x1b[${this.#drawn}A\x1b[J`);
  }

  #redraw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.#lastDraw < 80) return;
    this.#lastDraw = now;
    this.#clear();
    const lines: string[] = [];
    for (const [platform, row] of this.#rows) {
      const cells = STEPS.map((s) => {
        const c = row.get(s)!;
        const running = c.state === "start" && c.since !== undefined ? ` ${((Date.now() - c.since) / 1000).toFixed(0)}s` : "";
        return `${ICON[c.state]} ${s}${running}${c.state === "cached" ? " (cached)" : c.detail && c.state !== "start" ? ` (${c.detail})` : ""}`;
      });
      lines.push(`${platform.padEnd(14)} ${cells.join("  ")}`);
    }
    const width = this.#out.columns ?? 120;
    for (const n of this.#notes) lines.push(`  ${escapeControls(n)}`.slice(0, width - 1));
    this.#out.write(lines.map((l) => `${escapeControls(l)}\n`).join(""));
    this.#drawn = lines.length;
  }
}
