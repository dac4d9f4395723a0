/** Terminal escape sequences (colours, cursor moves) that apps and compilers print; logs keep the text only. */
// CSI sequences (ESC [ … final byte) and two-byte ESC sequences.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}
