/** The shared Publisher and Source contracts, run against the registry publisher and source and a real registry. */
import { after, before, test } from "node:test";
import { open } from "node:fs/promises";
import { request } from "node:http";
import { basename, join } from "node:path";
import { digestHex, type Digest } from "../oci/digest.ts";
import { sourceContract, type SourceContext } from "../oci/testing/source-contract.ts";
import { publisherContract } from "../publish/testing/publisher-contract.ts";
import { missingTools, REGISTRY_BIN, startRegistry, unavailable, type TestRegistry } from "../../test/support/index.ts";
import { RegistryError } from "./errors.ts";
import { registryPublisher } from "./publisher.ts";
import { remoteIndexOrImage } from "./remote.ts";

const missing = missingTools([REGISTRY_BIN]);
if (missing !== undefined) {
  test("Publisher and Source contracts: registry", (t) => unavailable(t, missing));
} else {
  let registry: TestRegistry | undefined;
  let opens = 0;
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
  });
  // One repository per contract test (ctx.dir is unique per test).
  const repoOf = (dir: string): string => `${registry!.host}/contract/${basename(dir).toLowerCase()}`;
  publisherContract(
    "registry",
    (ctx) => registryPublisher(repoOf(ctx.dir), { credentials: null }),
    async (_p, tag, ctx) => {
      try {
        return await remoteIndexOrImage(`${repoOf(ctx.dir)}:${tag}`, { credentials: null, blobDir: `${ctx.dir}/cache` });
      } catch (err) {
        if (err instanceof RegistryError && err.status === 404) return undefined;
        throw err;
      }
    },
  );
  // The source contract: what was pushed reads back the same, and is refused the same, as from any source.
  const sourceRepo = (ctx: SourceContext): string => `contract/${ctx.dir.split("/").at(-1)!.toLowerCase()}`;
  const dataFile = (d: Digest): string => {
    const hex = digestHex(d);
    return join(registry!.storageDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
  };
  sourceContract("registry", {
    write: async (item, tag, ctx) => void (await registryPublisher(`${registry!.host}/${sourceRepo(ctx)}`, { credentials: null }).publish(item, { tag })),
    // A fresh blob cache per open, so every read goes to the registry.
    open: (tag, ctx) => remoteIndexOrImage(`${registry!.host}/${sourceRepo(ctx)}:${tag}`, { credentials: null, blobDir: join(ctx.dir, `cache-${++opens}`) }),
    tamper: async (d) => {
      const fh = await open(dataFile(d), "r+");
      try {
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, 20);
        b[0] = b[0]! ^ 0xff;
        await fh.write(b, 0, 1, 20);
      } finally {
        await fh.close();
      }
    },
    remove: (d, ctx) =>
      new Promise<void>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: registry!.port, method: "DELETE", path: `/v2/${sourceRepo(ctx)}/blobs/${d}` }, (res) => {
          res.resume();
          if (res.statusCode === 202) resolve();
          else reject(new Error(`DELETE blob: HTTP ${res.statusCode}`));
        });
        req.on("error", reject);
        req.end();
      }),
  });
}
