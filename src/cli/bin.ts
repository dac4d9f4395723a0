// The process entry: run the CLI and turn its result into the exit code.
// A pipe takes 64 KiB at once; what did not fit is queued in this process and written as the
// reader drains it. process.exit() drops that queue, so `aotpack sbom … | consumer` would stop at
// 64 KiB with exit 0: wait until stdout and stderr have written everything (or failed: EPIPE) first.
import type { Writable } from "node:stream";
import { main } from "./main.ts";

function flushed(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    // Callbacks run in write order: this one once every earlier chunk is out (or the stream failed).
    stream.write("", () => resolve());
  });
}

const code = await main(process.argv.slice(2));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
