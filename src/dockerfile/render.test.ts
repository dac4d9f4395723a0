import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerfileParser, From, Run } from "dockerfile-ast";
import { UsageError } from "../errors.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { BUN_TARGET_BY_ARCH, DOCKERIGNORE_ENTRIES, renderDockerfile, type DockerfilePlan } from "./render.ts";
import { formatFindings, lintDockerfile } from "./lint.ts";
import { parseModel, rootOf, isBuildPlatform } from "./model.ts";

function plan(over: Partial<DockerfilePlan> = {}): DockerfilePlan {
  return {
    appName: "hello-json",
    entry: "src/server.ts",
    platforms: parsePlatformList("linux/amd64,linux/arm64"),
    runtime: "bun",
    layout: "single-file",
    port: 8080,
    user: "65532:65532",
    env: { PORT: "8080", NODE_ENV: "production" },
    bunVersion: "1.4.5",
    minify: true,
    ...over,
  };
}

test("single-file: header, ARGs before the first FROM, build stage on BUILDPLATFORM, final stage", () => {
  const { dockerfile } = renderDockerfile(plan());
  const header = dockerfile.slice(0, dockerfile.indexOf("\nARG "));
  assert.match(header, /docker buildx build --platform linux\/amd64,linux\/arm64 -t hello-json \./);
  assert.match(header, /buildah bud --platform linux\/amd64,linux\/arm64 --manifest hello-json \./);

  const df = DockerfileParser.parse(dockerfile);
  const initial = df.getInitialARGs().map((a) => a.toString());
  assert.deepEqual(initial, ["ARG BUILDER_IMAGE=oven/bun:1.4.5", "ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot"]);

  const model = parseModel(dockerfile);
  const build = model.stages.find((s) => s.name === "build");
  assert.ok(build);
  assert.equal(build.from.toString(), "FROM --platform=$BUILDPLATFORM ${BUILDER_IMAGE} AS build");
  const args = build.body.filter((i) => i.getKeyword() === "ARG").map((i) => i.getArgumentsContent());
  assert.deepEqual(args, ["TARGETARCH", "TARGETVARIANT"]);

  // Nothing runs on the target platform: every RUN is in a BUILDPLATFORM stage.
  for (const stage of model.stages) {
    if (stage.body.some((i) => i instanceof Run)) assert.ok(isBuildPlatform(rootOf(stage).platform), `RUN in ${stage.name ?? stage.index}`);
  }

  const final = model.stages[model.stages.length - 1];
  assert.ok(final);
  assert.equal(final.from.toString(), "FROM --platform=$TARGETPLATFORM ${RUNTIME_IMAGE}");
  assert.deepEqual(
    final.body.map((i) => i.toString()),
    [
      "COPY --from=build /out/hello-json /app/hello-json",
      "WORKDIR /app",
      "USER 65532:65532",
      "EXPOSE 8080",
      'ENV PORT="8080"',
      'ENV NODE_ENV="production"',
      'ENTRYPOINT ["/app/hello-json"]',
    ],
  );
  assert.match(dockerfile, /bun build --compile --target="\$target" --compile-executable-path=\/opt\/target-bun\/bun --minify --outfile \/out\/hello-json \.\/src\/server\.ts/);
});

test("the generated Dockerfile passes aotpack lint", () => {
  for (const layout of ["single-file", "layered"] as const) {
    const { dockerfile } = renderDockerfile(plan({ layout }));
    const findings = lintDockerfile(dockerfile, { file: "Dockerfile" });
    assert.deepEqual(findings, [], formatFindings(findings));
  }
});

test("layered: runtime layer, then app layer, and bun + app.js entrypoint", () => {
  const { dockerfile } = renderDockerfile(plan({ layout: "layered", minify: false }));
  const model = parseModel(dockerfile);
  const final = model.stages[model.stages.length - 1];
  assert.ok(final);
  const copies = final.body.filter((i) => i.getKeyword() === "COPY").map((i) => i.toString());
  assert.deepEqual(copies, ["COPY --from=target-bun /usr/local/bin/bun /app/bun", "COPY --from=build /out/app.js /app/app.js"]);
  assert.match(dockerfile, /ENTRYPOINT \["\/app\/bun","\/app\/app\.js"\]/);
  assert.match(dockerfile, /bun build --target=bun --outfile \/out\/app\.js \.\/src\/server\.ts/);
  assert.doesNotMatch(dockerfile, /--compile|--minify/);
});

test("builder and runtime images are overridable, ENV values are taken literally", () => {
  const { dockerfile } = renderDockerfile(
    plan({ builderImage: "localhost/bun:1", runtimeImage: "localhost/glibc:2", env: { GREETING: 'say "hi" to $USER \\o/' } }),
  );
  assert.match(dockerfile, /^ARG BUILDER_IMAGE=localhost\/bun:1$/m);
  assert.match(dockerfile, /^ARG RUNTIME_IMAGE=localhost\/glibc:2$/m);
  // Double-quoted with \ escapes for ", $ and \ (the builders' shell-word rules); build.test.ts checks a real build reads it back.
  assert.match(dockerfile, /^ENV GREETING="say \\"hi\\" to \\\$USER \\\\o\/"$/m);
});

test(".dockerignore keeps secrets and host builds out of the context", () => {
  const lines = renderDockerfile(plan()).dockerignore.split("\n");
  for (const entry of ["node_modules", "dist", ".git", ".env*", "*.pem", "id_*", ".npmrc"]) assert.ok(lines.includes(entry), entry);
  assert.deepEqual(lines.filter((l) => l && !l.startsWith("#")), [...DOCKERIGNORE_ENTRIES]);
});

test("invalid plans are usage errors", () => {
  const bad: Array<[Partial<DockerfilePlan>, RegExp]> = [
    [{ platforms: parsePlatformList("linux/arm/v7") }, /linux\/arm\/v7 is not supported/],
    [{ platforms: [] }, /no platforms/],
    [{ user: "root" }, /root/],
    [{ user: "0:0" }, /root/],
    [{ user: "00:00" }, /root/],
    [{ appName: "../x" }, /invalid app name/],
    [{ entry: "../outside.ts" }, /invalid entry/],
    [{ entry: "/abs.ts" }, /invalid entry/],
    [{ entry: "a b.ts" }, /invalid entry/],
    [{ port: 0 }, /invalid port/],
    [{ env: { "BAD-NAME": "x" } }, /invalid environment variable name/],
    [{ env: { OK: "two\nlines" } }, /one line/],
    [{ bunVersion: "latest; rm -rf /" }, /invalid bun version/],
    [{ runtimeImage: "img with space" }, /invalid runtime image/],
  ];
  for (const [over, message] of bad) {
    assert.throws(() => renderDockerfile(plan(over)), (err: unknown) => err instanceof UsageError && message.test(err.message), JSON.stringify(over));
  }
});

test("the build RUN maps TARGETARCH to the Bun target and refuses other arches (run with /bin/sh and a stub bun)", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "aotpack-df-render-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "bin");
  spawnSync("mkdir", [bin]);
  // The stub records its arguments, so the test sees exactly what the Dockerfile would run.
  writeFileSync(join(bin, "bun"), '#!/bin/sh\necho "bun $*"\n');
  chmodSync(join(bin, "bun"), 0o755);
  const run = DockerfileParser.parse(renderDockerfile(plan()).dockerfile)
    .getInstructions()
    .find((i): i is Run => i instanceof Run);
  assert.ok(run);
  const script = run.getArgumentsContent() ?? "";
  const sh = (env: Record<string, string>) =>
    spawnSync("/bin/sh", ["-c", script], { cwd: dir, env: { PATH: `${bin}:/usr/bin:/bin`, ...env }, encoding: "utf8", timeout: 10_000 });

  for (const [arch, target] of Object.entries(BUN_TARGET_BY_ARCH)) {
    const r = sh({ TARGETARCH: arch, TARGETVARIANT: "" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^bun build --compile --target=${target} --compile-executable-path=/opt/target-bun/bun --minify`, "m"));
    assert.doesNotMatch(r.stdout, /bun install/); // no lockfile in dir
  }
  const bad = sh({ TARGETARCH: "arm", TARGETVARIANT: "v7" });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unsupported target platform linux\/arm\/v7/);
  assert.equal(bad.stdout, "");

  writeFileSync(join(dir, "package-lock.json"), "{}\n");
  const npmLocked = sh({ TARGETARCH: "amd64" });
  assert.equal(npmLocked.status, 0, npmLocked.stderr);
  assert.match(npmLocked.stdout, /^bun install$/m);

  writeFileSync(join(dir, "bun.lock"), "{}\n");
  const locked = sh({ TARGETARCH: "amd64" });
  assert.equal(locked.status, 0, locked.stderr);
  assert.match(locked.stdout, /^bun install --frozen-lockfile$/m);
});

test("FROM lines of the rendered file parse as intended", () => {
  const froms = DockerfileParser.parse(renderDockerfile(plan({ layout: "layered" })).dockerfile)
    .getInstructions()
    .filter((i): i is From => i instanceof From)
    .map((f) => [f.getPlatformFlag()?.getValue(), f.getImage(), f.getBuildStage()]);
  assert.deepEqual(froms, [
    ["$TARGETPLATFORM", "${BUILDER_IMAGE}", "target-bun"],
    ["$BUILDPLATFORM", "${BUILDER_IMAGE}", "build"],
    ["$TARGETPLATFORM", "${RUNTIME_IMAGE}", null],
  ]);
});

test("the final stage sets PORT as build does, unless env names it", () => {
  const { dockerfile } = renderDockerfile(plan({ port: 3000, env: { NODE_ENV: "production" } }));
  assert.match(dockerfile, /^EXPOSE 3000\nENV PORT="3000"\nENV NODE_ENV="production"$/m);
  const own = renderDockerfile(plan({ port: 3000, env: { PORT: "4000" } })).dockerfile;
  assert.doesNotMatch(own, /PORT="3000"/);
  assert.match(own, /ENV PORT="4000"/);
});

test("--file: extra files are copied under /app and re-included past .dockerignore", () => {
  const { dockerfile, dockerignore } = renderDockerfile(plan({ files: ["public/index.html", "dist/logo.svg"] }));
  assert.match(dockerfile, /^COPY \["public\/index.html", "\/app\/public\/index.html"\]$/m);
  assert.match(dockerfile, /^COPY \["dist\/logo.svg", "\/app\/dist\/logo.svg"\]$/m);
  assert.match(dockerignore, /^!dist\/logo.svg$/m);
  assert.throws(() => renderDockerfile(plan({ files: ["../etc/passwd"] })), UsageError);
});

test("--runtime node renders a Node SEA build: esbuild bundle, blob, postject into the target's node", () => {
  for (const layout of ["single-file", "layered"] as const) {
    const { dockerfile } = renderDockerfile(plan({ runtime: "node", layout, nodeVersion: "24.21.0" }));
    assert.match(dockerfile, /^ARG BUILDER_IMAGE=node:24\.21\.0-bookworm-slim$/m);
    assert.match(dockerfile, /esbuild/);
    const findings = lintDockerfile(dockerfile, { file: "Dockerfile" });
    assert.deepEqual(findings, [], formatFindings(findings));
    if (layout === "single-file") {
      assert.match(dockerfile, /--experimental-sea-config/);
      assert.match(dockerfile, /postject@\S+ .*NODE_SEA_BLOB .*--sentinel-fuse NODE_SEA_FUSE_/);
      assert.match(dockerfile, /^ENTRYPOINT \["\/app\/hello-json"\]$/m);
    } else {
      assert.match(dockerfile, /^ENTRYPOINT \["\/app\/node","\/app\/app.js"\]$/m);
    }
  }
});
