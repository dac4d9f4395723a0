/**
 * The build plan: flags over the project file over the defaults, resolved once and frozen;
 * build(plan) reads no config again (the CLI resolves the plan, then builds from it).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { registerCompiler } from "../compile/registry.ts";
import { TOY_MARKER, toyCompilerEntry } from "../compile/testing/toy-compiler.ts";
import { build } from "./build.ts";
import { isBuildPlan, resolveBuildPlan } from "./plan.ts";

test("a plan: flags over config over defaults, frozen, and build(plan) reads no config again", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-plan-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const saved = process.env.AOTPACK_CACHE_DIR;
  process.env.AOTPACK_CACHE_DIR = join(dir, ".cache");
  t.after(() => {
    if (saved === undefined) delete process.env.AOTPACK_CACHE_DIR;
    else process.env.AOTPACK_CACHE_DIR = saved;
  });
  t.after(registerCompiler(toyCompilerEntry("toy-plan")));
  const project = join(dir, "app");
  await mkdir(project);
  await writeFile(join(project, TOY_MARKER), JSON.stringify({ message: "planned" }));
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "@team/Planned", aotpack: { port: 9000, env: { A: "1", B: "config" }, platforms: ["linux/amd64"], runtime: "toy-plan" } }));

  const plan = await resolveBuildPlan({ projectDir: project, env: { B: "flag" }, base: "scratch", sourceDateEpoch: 0, sbom: "none", provenance: false });
  assert.ok(isBuildPlan(plan));
  assert.equal(isBuildPlan({ ...plan }), false, "a copy is options, not a plan");
  assert.deepEqual(
    { appName: plan.appName, port: plan.port, env: plan.env, platforms: plan.platforms, runtime: plan.runtime, base: plan.base, layout: plan.layout, compression: plan.compression, user: plan.user, minify: plan.minify, cache: plan.cache, lockfile: plan.lockfile, epochSource: plan.epochSource },
    { appName: "planned", port: 9000, env: { A: "1", B: "flag" }, platforms: [{ os: "linux", architecture: "amd64" }], runtime: "toy-plan", base: "scratch", layout: "single-file", compression: "gzip", user: undefined, minify: true, cache: true, lockfile: join(project, "aotpack.lock"), epochSource: "option" },
  );
  for (const part of [plan, plan.env, plan.platforms, plan.platforms[0], plan.project, plan.project.config, plan.verify]) assert.ok(Object.isFrozen(part));
  assert.throws(() => {
    (plan as { port: number }).port = 1;
  }, TypeError);

  // The config changes (and breaks) after the plan was made: a build from the plan does not notice.
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "other", aotpack: { port: 1234, portt: 1 } }));
  const result = await build(plan);
  assert.equal(result.appName, "planned");
  const cfg = await result.platforms[0]!.image.configFile();
  assert.deepEqual(cfg.config.ExposedPorts, { "9000/tcp": {} });
  assert.ok(cfg.config.Env?.includes("B=flag"));
  // Options (not a plan) are resolved, so there the broken config is an error.
  await assert.rejects(build({ ...plan, projectDir: project } as never), (e: unknown) => e instanceof UsageError && /unknown config key "portt"/.test((e as Error).message));
});
