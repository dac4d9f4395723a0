/** The shared Publisher contract, run against the registry publisher and a real registry. */
import { after, before, test } from "node:test";
import { basename } from "node:path";
import { publisherContract } from "../publish/testing/publisher-contract.ts";
import { missingTools, REGISTRY_BIN, startRegistry, unavailable, type TestRegistry } from "../../test/support/index.ts";
import { RegistryError } from "./errors.ts";
import { registryPublisher } from "./publisher.ts";
import { remoteIndexOrImage } from "./remote.ts";

const missing = missingTools([REGISTRY_BIN]);
if (missing !== undefined) {
  test("Publisher contract: registry", (t) => unavailable(t, missing));
} else {
  let registry: TestRegistry | undefined;
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
}
