// A node:test reporter for long suites: a line when each top-level test starts and when it ends,
// with its time, so `npm test` has no silent stretches. It writes to stderr; the TAP reporter on
// stdout keeps node's closing summary, which CI reads.
import { relative } from "node:path";

export default async function* progressReporter(source) {
  for await (const event of source) {
    const data = event.data ?? {};
    if (data.nesting !== 0) continue;
    const where = data.file ? ` [${relative(process.cwd(), data.file)}]` : "";
    if (event.type === "test:start") yield `▶ ${data.name}${where}\n`;
    else if (event.type === "test:pass" || event.type === "test:fail") {
      const mark = event.type === "test:fail" ? "✗" : data.skip ? "-" : "✓";
      const seconds = ((data.details?.duration_ms ?? 0) / 1000).toFixed(1);
      yield `${mark} ${data.name} (${seconds} s)${where}\n`;
    }
  }
}
