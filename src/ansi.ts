/** Terminal escape sequences: stripped from the logs of apps and compilers, escaped in what we print from outside. */
// CSI sequences (ESC [ … final byte) and two-byte ESC sequences.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/**
 * Characters a terminal (or a CI log viewer) acts on instead of showing: C0 controls (ESC, BEL, CR,
 * LF, …), DEL, C1 controls (U+009B is an 8-bit CSI), the bidi embeddings, overrides and isolates
 * that reorder what is shown, the line and paragraph separators, and lone surrogates.
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Text from outside (an image, a registry, an archive, a layout) made safe to print: each unsafe
 * character becomes a visible escape (`\x1b`, `\r`, `\u{202e}`), so a printed line is one line and
 * shows what it says. Idempotent; backslashes are left alone. `--json` output does not use it.
 */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}
