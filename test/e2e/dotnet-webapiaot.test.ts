/**
 * Issue 27 (4): `dotnet new webapiaot` as generated, plus Microsoft.Data.Sqlite and a route that
 * queries it, built for linux/amd64 and linux/arm64 through the CLI with no flags beyond `--http`,
 * and verified on both (arm64 under qemu-user). It needs, from aotpack:
 *  - ASPNETCORE_HTTP_PORTS set to the port (the template ignores PORT and listens on localhost:5000);
 *  - the publish folder's content files (appsettings.json) and the NuGet package's native library
 *    for the RID (SQLitePCLRaw's libe_sqlite3.so) beside the executable;
 *  - progress lines during the cold publish.
 * One build of both platforms: a cold NativeAOT publish costs minutes here.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, skipOrFail } from "../support/index.ts";
import { dotnetMissing, quietDotnetEnv } from "../../examples/todo-api-dotnet/test/dotnet.ts";
import { checkDotnetToolchain } from "../../src/compile/dotnet-aot.ts";
import { parsePlatform } from "../../src/oci/platform.ts";
import { openSource } from "../../src/sources.ts";
import { isImageIndex } from "../../src/oci/interfaces.ts";
import { extractLayer } from "../../src/base/testing/fixtures.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64"];
/** A version of Microsoft.Data.Sqlite the NuGet source serves, of the template's own 10.0 line. */
const SQLITE_VERSION = "10.0.12";
const TIMEOUT_MS = 40 * 60_000;

async function whyNot(): Promise<string | undefined> {
  const dotnet = dotnetMissing();
  if (dotnet) return dotnet;
  const problems = (await Promise.all(PLATFORMS.map((p) => checkDotnetToolchain(parsePlatform(p))))).flat();
  return problems.length ? `NativeAOT toolchain incomplete: ${problems.map((p) => p.missing).join(", ")}` : undefined;
}

const SQLITE_ROUTE = `app.MapGet("/sqlite", () =>
{
    using var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=:memory:");
    connection.Open();
    using var command = connection.CreateCommand();
    command.CommandText = "select 'sqlite ' || sqlite_version()";
    return (string)command.ExecuteScalar()!;
});

app.Run();`;

function dotnet(args: string[], cwd: string): void {
  const r = spawnSync("dotnet", args, { cwd, encoding: "utf8", env: { ...process.env, ...quietDotnetEnv }, timeout: 10 * 60_000 });
  assert.equal(r.status, 0, `dotnet ${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
}

interface BuildJson {
  platforms: { platform: string }[];
  verify?: { ok: boolean; platforms: { platform: string; ok: boolean; error?: string }[] };
}

describe("dotnet new webapiaot + Microsoft.Data.Sqlite, both platforms, --http checks only", { skip: skipOrFail(await whyNot()), timeout: TIMEOUT_MS }, () => {
  let work = "";
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "aotpack-webapiaot-"));
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("the template's Todo routes and a SQLite query pass verify; appsettings.json and libe_sqlite3.so ship", { timeout: TIMEOUT_MS }, async () => {
    const project = join(work, "Wapi");
    dotnet(["new", "webapiaot", "-n", "Wapi", "-o", project, "--no-restore"], work);
    dotnet(["add", "package", "Microsoft.Data.Sqlite", "--version", SQLITE_VERSION, "--no-restore"], project);
    const program = join(project, "Program.cs");
    const source = await readFile(program, "utf8");
    assert.ok(source.includes("app.Run();"), source);
    await writeFile(program, source.replace("app.Run();", SQLITE_ROUTE));

    const out = join(work, "image");
    const r = await runCli(
      [
        "build", project, "--platform", PLATFORMS.join(","), "-o", `oci:${out}:latest`, "--json", "--verify",
        "--http", "GET /todos 200 array", "--http", "GET /todos/1 200 object", "--http", "GET /todos/99 404",
        "--http", "GET /sqlite 200", "--expect-body", "sqlite 3.",
      ],
      { env: { ...quietDotnetEnv, AOTPACK_CACHE_DIR: join(work, "cache") }, timeoutMs: TIMEOUT_MS },
    );
    const transcript = `exit ${r.code}\n${r.stderr.split("\n").slice(-40).join("\n")}\n${r.stdout.slice(0, 4000)}`;
    assert.equal(r.code, 0, transcript);
    const report = JSON.parse(r.stdout) as BuildJson;
    assert.deepEqual(report.platforms.map((p) => p.platform), PLATFORMS);
    assert.equal(report.verify?.ok, true, transcript);
    // The cold publish says what it is doing.
    for (const p of PLATFORMS) assert.match(r.stderr, new RegExp(`${p}: dotnet publish: generating native code`), transcript);

    const { item } = await openSource(`oci:${out}:latest`);
    assert.ok(isImageIndex(item));
    const manifests = (await item.indexManifest()).manifests.filter((m) => m.platform?.os === "linux");
    assert.equal(manifests.length, 2);
    for (const [i, m] of manifests.entries()) {
      const image = await item.image(m.digest);
      const cfg = await image.configFile();
      assert.ok(cfg.config.Env?.includes("ASPNETCORE_HTTP_PORTS=8080"), JSON.stringify(cfg.config.Env));
      const rootfs = join(work, `rootfs-${i}`);
      for (const layer of await image.layers()) await extractLayer(layer, rootfs);
      for (const f of ["app/wapi", "app/appsettings.json", "app/libe_sqlite3.so"]) assert.ok(existsSync(join(rootfs, f)), `${m.platform?.architecture}: /${f}`);
      assert.ok(!existsSync(join(rootfs, "app", "Wapi.dbg")), "no symbols in the image");
    }
  });
});
