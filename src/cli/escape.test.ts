/**
 * Strings from an image, a layout or a registry never reach the terminal as control bytes: the
 * human output of inspect, error lines and progress escape them; --json keeps them exact.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { sha256 } from "../oci/digest.ts";
import { MediaType } from "../oci/media-types.ts";
import { runCli } from "../../test/support/cli.ts";
import { ProgressView } from "./progress.ts";

/** Sets the window title, erases the line, returns the cursor. */
const HOSTILE = "\u001b]0;PWNED\u0007\u001b[2K\r";
const HOSTILE_SHOWN = "\\x1b]0;PWNED\\x07\\x1b[2K\\r";
/** What a terminal must never receive from us: ESC, BEL, the 8-bit CSI (UTF-8 C2 9B), a bidi override. */
function assertInert(text: string, what: string): void {
  for (const [c, name] of [["\u001b", "ESC"], ["\u0007", "BEL"], ["\r", "CR"], ["\u009b", "CSI"], ["\u202e", "RLO"], ["\u2066", "LRI"], ["\ufffd", "a lone surrogate, replaced"]] as const) {
    assert.ok(!text.includes(c), `${what} holds a raw ${name}: ${JSON.stringify(text)}`);
  }
}

async function blob(dir: string, content: Buffer | string): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(content);
  const digest = sha256(bytes);
  await writeFile(join(dir, "blobs", "sha256", digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** An OCI layout written byte by byte, hostile strings everywhere a reader prints from. */
async function hostileLayout(t: TestContext): Promise<{ dir: string; config: Record<string, unknown>; layerMediaType: string }> {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-escape-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const layerBytes = Buffer.from("not looked at by inspect");
  const layer = await blob(dir, layerBytes);
  const config = {
    Env: [`A=${HOSTILE}`],
    Labels: { [`label${HOSTILE}`]: `value\u009b31m\u202eevil\ud800` },
    Entrypoint: [`/app${HOSTILE}`],
    Cmd: ["serve\u2066"],
    User: `app${HOSTILE}`,
    WorkingDir: `/w${HOSTILE}`,
  };
  const cfg = await blob(dir, JSON.stringify({ architecture: "amd64", os: "linux", config, rootfs: { type: "layers", diff_ids: [layer.digest] } }));
  const layerMediaType = `application/vnd.oci.image.layer.v1.tar${HOSTILE}`;
  const manifest = await blob(
    dir,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...cfg },
      layers: [{ mediaType: layerMediaType, ...layer }],
      annotations: { [`note${HOSTILE}`]: `n${HOSTILE}` },
    }),
  );
  const entry = { mediaType: MediaType.OciManifest, ...manifest };
  await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { ...entry, annotations: { "org.opencontainers.image.ref.name": "v1" } },
        { ...entry, annotations: { "org.opencontainers.image.ref.name": `evil${HOSTILE}` } },
      ],
    }),
  );
  return { dir, config, layerMediaType };
}

test("inspect (human) escapes what the image says: env, labels, entrypoint, user, layer mediaType, annotations; --json keeps it exact", { timeout: 60_000 }, async (t) => {
  const { dir, config, layerMediaType } = await hostileLayout(t);
  const human = await runCli(["inspect", `oci:${dir}:v1`]);
  assert.equal(human.code, 0, human.stderr);
  assertInert(human.stdout, "inspect's output");
  for (const shown of [
    `env: A=${HOSTILE_SHOWN}`,
    `label label${HOSTILE_SHOWN}: value\\x9b31m\\u{202e}evil\\u{d800}`,
    `user: app${HOSTILE_SHOWN}`,
    `workdir: /w${HOSTILE_SHOWN}`,
    `application/vnd.oci.image.layer.v1.tar${HOSTILE_SHOWN}`,
    `annotation note${HOSTILE_SHOWN}: n${HOSTILE_SHOWN}`,
    "serve\\u{2066}",
  ]) {
    assert.ok(human.stdout.includes(shown), `shows ${shown}:\n${human.stdout}`);
  }

  const json = await runCli(["inspect", `oci:${dir}:v1`, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { images: { config: typeof config; layers: { mediaType: string }[] }[]; annotations?: Record<string, string> };
  assert.deepEqual(parsed.images[0]!.config, config, "--json holds the exact strings");
  assert.equal(parsed.images[0]!.layers[0]!.mediaType, layerMediaType);
});

test("an error naming a tag from the layout is escaped on stderr, exact in --json", { timeout: 60_000 }, async (t) => {
  const { dir } = await hostileLayout(t);
  const r = await runCli(["inspect", `oci:${dir}:nope`]);
  assert.equal(r.code, 1);
  assertInert(r.stderr, "the error line");
  assert.ok(r.stderr.includes(`evil${HOSTILE_SHOWN}`), r.stderr);
  const j = await runCli(["inspect", `oci:${dir}:nope`, "--json"]);
  assert.ok((JSON.parse(j.stdout) as { error: string }).error.includes(`evil${HOSTILE}`));
});

test("a registry's error body is escaped in the error line", { timeout: 60_000 }, async (t) => {
  const body = JSON.stringify({ errors: [{ code: "DENIED", message: `\u001b]0;x\u0007${HOSTILE}` }] });
  const server = createServer((_req, res) => res.writeHead(400, { "Content-Type": "application/json" }).end(body));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const addr = server.address();
  const host = `127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  const r = await runCli(["inspect", `registry:${host}/x:y`]);
  assert.equal(r.code, 1);
  assertInert(r.stderr, "the error line");
  assert.ok(r.stderr.includes(`400 DENIED: \\x1b]0;x\\x07${HOSTILE_SHOWN}`), r.stderr);
});

test("progress, info and warning lines are escaped, live or plain", () => {
  for (const live of [false, true]) {
    let text = "";
    const out = new Writable({
      write(chunk: Buffer, _e, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const v = new ProgressView(out, { live });
    v.info(`pulling base${HOSTILE}`);
    v.warn(`layer ${HOSTILE}`);
    v.step("linux/amd64", "base", "done", `from ${HOSTILE}`);
    v.finish();
    // The live view draws with its own cursor moves (ESC [ …); none may come from a message.
    const ours = text.replace(/\x1b\[\d+A\x1b\[J/g, "");
    assertInert(ours, `progress (live: ${live})`);
    assert.ok(ours.includes(`warning: layer ${HOSTILE_SHOWN}`), ours);
    assert.ok(ours.includes(`from ${HOSTILE_SHOWN}`), ours);
  }
});

test("verify's report escapes the app's last lines, check details and the error", async () => {
  const { formatVerifyReport } = await import("../verify/verify.ts");
  const text = formatVerifyReport({
    ok: false,
    platforms: [
      {
        platform: "linux/amd64",
        ok: false,
        error: `the app exited: ${HOSTILE}`,
        checks: [{ check: "GET /", ok: false, detail: `body ${HOSTILE}` } as never],
        lastLogLines: [`listening${HOSTILE}`, "fake line\nverify: all platforms passed"],
      },
    ],
  });
  assertInert(text, "the verify report");
  assert.ok(text.includes(`    | listening${HOSTILE_SHOWN}`), text);
  assert.ok(text.includes("    | fake line\\nverify: all platforms passed"), "an app cannot print a line of ours");
  assert.ok(text.includes(`error: the app exited: ${HOSTILE_SHOWN}`), text);
});
