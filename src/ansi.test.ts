import { test } from "node:test";
import assert from "node:assert/strict";
import { escapeControls, stripAnsi } from "./ansi.ts";

test("escapeControls: C0, DEL, C1, bidi controls, separators and lone surrogates become visible escapes", () => {
  assert.equal(escapeControls("\u001b]0;t\u0007\u001b[2K\r\n\t\u0000\u007f"), "\\x1b]0;t\\x07\\x1b[2K\\r\\n\\t\\x00\\x7f");
  assert.equal(escapeControls("a\u0085b\u009bc"), "a\\x85b\\x9bc");
  assert.equal(escapeControls("\u202a\u202e\u2066\u2069\u2028\u2029"), "\\u{202a}\\u{202e}\\u{2066}\\u{2069}\\u{2028}\\u{2029}");
  assert.equal(escapeControls("x\ud800y\udc00"), "x\\u{d800}y\\u{dc00}");
});

test("escapeControls leaves printable text alone (accents, CJK, emoji pairs, backslashes) and is idempotent", () => {
  for (const s of ["café 東京 🚀 \\x1b C:\\path", "linux/amd64  sha256:abc", ""]) assert.equal(escapeControls(s), s);
  const once = escapeControls("\u001b[31mred\u202e");
  assert.equal(escapeControls(once), once);
});

test("stripAnsi still only strips what apps print (colours), as before", () => {
  assert.equal(stripAnsi("\u001b[31mred\u001b[0m"), "red");
});
