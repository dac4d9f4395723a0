/**
 * A loopback npm registry serving one runtime package, for tests of the runtime fetch (npm-runtime.ts)
 * through the real `npm pack`: the package is packed by npm from a folder holding `bin/bun`, and what
 * the registry serves for its version can be replaced (a registry that now serves other bytes).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runOk } from "../../../test/support/index.ts";
import type { NpmRuntimeSpec } from "../npm-runtime.ts";

export interface FakeRuntimeRegistry {
  /** For npm_config_registry. */
  url: string;
  spec: NpmRuntimeSpec;
  /** Serve a package whose bin/bun holds `executable` (packed by npm); returns its integrity. */
  serve(executable: Buffer): Promise<string>;
  /** Tarball downloads so far. */
  downloads(): number;
  stop(): Promise<void>;
}

export async function startFakeRuntimeRegistry(name = "aotpack-fake-runtime", version = "1.0.0"): Promise<FakeRuntimeRegistry> {
  const work = await mkdtemp(join(tmpdir(), "aotpack-fake-registry-"));
  let tarball: Buffer | undefined;
  let integrity = "";
  let downloads = 0;
  const tarballPath = `/${name}/-/${name}-${version}.tgz`;
  const server = createServer((req, res) => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === `/${name}` && tarball) {
      const doc = { name, "dist-tags": { latest: version }, versions: { [version]: { name, version, dist: { tarball: `${url}${tarballPath}`, integrity } } } };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
    } else if (req.url === tarballPath && tarball) {
      downloads++;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": tarball.length }).end(tarball);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  let packs = 0;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    spec: { pkg: name, version, fileInPackage: "bin/bun", name: "bun" },
    async serve(executable) {
      const dir = join(work, `pkg-${++packs}`);
      await mkdir(join(dir, "bin"), { recursive: true });
      await writeFile(join(dir, "package.json"), JSON.stringify({ name, version, license: "MIT" }));
      await writeFile(join(dir, "bin", "bun"), executable, { mode: 0o755 });
      // Packing a folder is offline; its own npm cache keeps the user's out of it.
      const env = { ...process.env, npm_config_cache: join(work, "pack-cache"), npm_config_update_notifier: "false" };
      const packed = JSON.parse((await runOk("npm", ["pack", "--json", "--pack-destination", work], { cwd: dir, env })).stdout) as { filename: string; integrity: string }[];
      tarball = await readFile(join(work, packed[0]!.filename));
      integrity = packed[0]!.integrity;
      return integrity;
    },
    downloads: () => downloads,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(work, { recursive: true, force: true });
    },
  };
}
