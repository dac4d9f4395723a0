/** Issue 16: one redaction for every URL that reaches a message, --json, a label or an annotation. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { redactText, redactUrl, redactVcsUrl } from "./redact.ts";
import { safeUrl } from "./registry/errors.ts";

test("URLs lose userinfo and token query parameters, keep the rest", () => {
  assert.equal(redactUrl("https://user:pw@git.example/team/app.git?access_token=abc&ref=main#x"), "https://git.example/team/app.git?ref=main");
  assert.equal(redactUrl("https://h/p?private_token=1&token=2&TOKEN=3&X-Amz-Signature=4"), "https://h/p");
  assert.equal(redactUrl("https://h/p?a=1", { dropQuery: true }), "https://h/p");
  assert.equal(safeUrl("http://u:p@127.0.0.1:5000/v2/x?_state=abc"), "http://127.0.0.1:5000/v2/x");
});

test("VCS remotes: https with a token, ssh, scp-style", () => {
  assert.equal(redactVcsUrl("https://oauth2:glpat-XYZ@gitlab.example/team/app.git"), "https://gitlab.example/team/app.git");
  assert.equal(redactVcsUrl("https://github.com/team/app.git?access_token=ghp_123"), "https://github.com/team/app.git");
  assert.equal(redactVcsUrl("ssh://git:pw@host/team/app.git"), "ssh://host/team/app.git");
  assert.equal(redactVcsUrl("git@github.com:team/app.git"), "git@github.com:team/app.git");
});

test("free text: every URL in it is redacted", () => {
  const t = redactText("request to http://user:s3cret@127.0.0.1:9/x?token=t0k failed, reason: connect ECONNREFUSED (see https://a:b@c/).");
  assert.doesNotMatch(t, /s3cret|t0k|a:b@/);
  assert.match(t, /http:\/\/127\.0\.0\.1:9\/x failed/);
  assert.match(t, /https:\/\/c\/\)\.$/);
});
