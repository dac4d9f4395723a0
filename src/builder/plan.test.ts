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

/** A project dir with `aotpack` config; resolveBuildPlan for it with `options` (runtime named: nothing is detected or compiled). */
async function planFor(t: { after(fn: () => Promise<void>): void }, aotpack: Record<string, unknown>, options: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-plan-user-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "app", aotpack }));
  return resolveBuildPlan({ projectDir: dir, platforms: [{ os: "linux", architecture: "amd64" }], runtime: "bun", base: "scratch", sourceDateEpoch: 0, ...options });
}

function usage(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof UsageError, `a UsageError, not ${String(e)}`);
    assert.equal(e.exitCode, 2);
    assert.doesNotMatch(e.message, /\n/, "one line");
    assert.match(e.message, pattern);
    return true;
  };
}

test("issue 33: root (uid 0, gid 0, root, a bare uid's group 0) is refused unless allowRoot is given, by flag or config", async (t) => {
  const rootish = ["0", "0:0", "root", "root:root", "0:1000", "1000:0", "nonroot:root", "root:nonroot", "1000"];
  for (const user of rootish) {
    await assert.rejects(planFor(t, {}, { user }), usage(new RegExp(`--user "${user}".*(root|group 0).*--allow-root`)), `--user ${user}`);
    await assert.rejects(planFor(t, { user }), usage(new RegExp(`aotpack\\.user "${user}".*--allow-root`)), `config user ${user}`);
    assert.equal((await planFor(t, {}, { user, allowRoot: true })).user, user, `--user ${user} --allow-root`);
    const fromConfig = await planFor(t, { user, allowRoot: true });
    assert.equal(fromConfig.user, user);
    assert.equal(fromConfig.allowRoot, true);
    assert.equal(fromConfig.runsAsRoot, true, `${user}: the plan says the image runs as root`);
  }
  // The flag wins over the config, as everywhere: the config's opt-in is enough for a flag's root user.
  assert.equal((await planFor(t, { allowRoot: true }, { user: "0:0" })).user, "0:0");
  for (const user of ["65532:65532", "nonroot", "nonroot:nonroot", "1000:1000", "2147483647:2147483647", "app_1:grp-2"]) {
    const plan = await planFor(t, {}, { user });
    assert.equal(plan.user, user);
    assert.equal(plan.runsAsRoot, false, user);
  }
  const defaults = await planFor(t, {});
  assert.deepEqual([defaults.user, defaults.allowRoot, defaults.runsAsRoot], [undefined, false, false]);
  // allowRoot must be a boolean.
  await assert.rejects(planFor(t, { allowRoot: "yes" }), usage(/config key "allowRoot" must be true or false/));
});

test("issue 33: a user's uid and gid are integers 0..2147483647 and its form is uid[:gid] or name[:group]", async (t) => {
  for (const user of ["2147483648:1000", "1000:2147483648", "4294967295:1", "-1:1000", "1000:-1", "1.5:1000", "00:00", "0065532:65532", "1000:", ":1000", "a:b:c", "bad user", "x\u0000y", "", "1000:1000 "]) {
    await assert.rejects(planFor(t, {}, { user, allowRoot: true }), usage(/is not a user: expected uid:gid .*0-2147483647|is not a user/), JSON.stringify(user));
  }
});

test("issue 33: env keys with '=' or NUL, empty keys and values with NUL are refused", async (t) => {
  await assert.rejects(planFor(t, { env: { "A=B": "x" } }), usage(/env key "A=B" .*"="/));
  await assert.rejects(planFor(t, { env: { "A\u0000B": "x" } }), usage(/env key "A\\u0000B" .*NUL/));
  await assert.rejects(planFor(t, { env: { "": "x" } }), usage(/env key "" .*empty/));
  await assert.rejects(planFor(t, { env: { A: "x\u0000y" } }), usage(/env A \(package\.json aotpack\.env\): the value holds NUL/));
  await assert.rejects(planFor(t, {}, { env: { "A=B": "x" } }), usage(/env key "A=B" \(-e\)/));
  assert.deepEqual((await planFor(t, { env: { A: "b=c", "a.b-c": "" } })).env, { A: "b=c", "a.b-c": "" });
});
