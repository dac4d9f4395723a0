/**
 * The Todo API image against a local docker-registry: push (ours vs `skopeo copy --all
 * oci:… docker://…`), pull to an OCI layout (ours vs `skopeo copy --all docker://… oci:…`),
 * and the bytes a push uploads when the registry already holds the previous version.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Digest } from "../src/oci/digest.ts";
import { readLayout } from "../src/oci/layout-source.ts";
import { writeLayout } from "../src/publish/index.ts";
import type { ProgressEvent } from "../src/publish/types.ts";
import { pull, push } from "../src/registry/index.ts";
import { startRegistry, type TestRegistry } from "../test/support/registry.ts";
import { layoutPlatforms } from "./buildah.ts";
import { stats, type Stats } from "./lib.ts";

const run = promisify(execFile);

async function skopeo(args: string[]): Promise<void> {
  await run("skopeo", ["--insecure-policy", ...args], { timeout: 600_000, killSignal: "SIGKILL" });
}

async function withRegistry<T>(fn: (r: TestRegistry) => Promise<T>): Promise<T> {
  const registry = await startRegistry();
  try {
    return await fn(registry);
  } finally {
    await registry.stop();
  }
}

/** Blob bytes a push sent (skipped blobs, already in the registry, not counted). */
export function uploadedBytes(events: ProgressEvent[]): number {
  const totals = new Map<Digest, number>();
  const skipped = new Set<Digest>();
  for (const e of events) {
    if (e.kind !== "blob") continue;
    totals.set(e.digest, e.total);
    if (e.skipped) skipped.add(e.digest);
  }
  let n = 0;
  for (const [digest, total] of totals) if (!skipped.has(digest)) n += total;
  return n;
}

/** Push `before`, then `after`, to one repository; the bytes the second push uploaded. */
export async function incrementalPushBytes(beforeLayout: string, afterLayout: string, tag: string): Promise<number> {
  return withRegistry(async (registry) => {
    const ref = `${registry.host}/bench/todo-api`;
    await push(await (await readLayout(beforeLayout)).resolve(tag), `${ref}:before`, { credentials: null });
    const events: ProgressEvent[] = [];
    await push(await (await readLayout(afterLayout)).resolve(tag), `${ref}:after`, { credentials: null, onProgress: (e) => events.push(e) });
    return uploadedBytes(events);
  });
}

export interface RegistryTimes {
  pushOurs: Stats;
  pushSkopeo: Stats;
  pullOurs: Stats;
  /** The part of pullOurs spent fetching into the blob cache (the rest writes the layout). */
  pullOursFetch: Stats;
  pullSkopeo: Stats;
}

/** Push and pull times of the image in `layoutDir:tag`, each on a fresh registry / into a fresh dir, order alternating. */
export async function registryTimes(layoutDir: string, tag: string, repeats: number, work: string): Promise<RegistryTimes> {
  const source = await (await readLayout(layoutDir)).resolve(tag);
  const want = await layoutPlatforms(layoutDir);
  const wantDigest = await source.digest();
  const t = { pushOurs: [] as number[], pushSkopeo: [] as number[], pullOurs: [] as number[], pullOursFetch: [] as number[], pullSkopeo: [] as number[] };
  const time = async (fn: () => Promise<void>): Promise<number> => {
    const t0 = performance.now();
    await fn();
    return (performance.now() - t0) / 1000;
  };
  for (let i = 0; i < repeats; i++) {
    const pushOurs = () =>
      withRegistry(async (r) => {
        t.pushOurs.push(await time(async () => void (await push(source, `${r.host}/bench/ours:${tag}`, { credentials: null }))));
      });
    const pushSkopeo = () =>
      withRegistry(async (r) => {
        t.pushSkopeo.push(await time(() => skopeo(["copy", "--all", "--quiet", "--dest-tls-verify=false", `oci:${layoutDir}:${tag}`, `docker://${r.host}/bench/skopeo:${tag}`])));
      });
    if (i % 2 === 0) {
      await pushOurs();
      await pushSkopeo();
    } else {
      await pushSkopeo();
      await pushOurs();
    }
    // Pulls: one registry holding the image; each tool writes a fresh OCI layout (ours with an empty blob cache).
    await withRegistry(async (r) => {
      const ref = `${r.host}/bench/todo-api:${tag}`;
      await push(source, ref, { credentials: null });
      const dir = await mkdtemp(join(work, "pull-"));
      try {
        const pullOurs = async (): Promise<void> => {
          const out = join(dir, `ours-${i}`);
          const t0 = performance.now();
          const pulled = await pull(ref, { credentials: null, blobDir: join(dir, `blobs-${i}`) });
          const t1 = performance.now();
          if (!pulled.index || pulled.digest !== wantDigest) throw new Error(`pull of ${ref} gave ${pulled.digest}, want the index ${wantDigest}`);
          await writeLayout(out, pulled.index, { tag });
          t.pullOursFetch.push((t1 - t0) / 1000);
          t.pullOurs.push((performance.now() - t0) / 1000);
          const got = await layoutPlatforms(out);
          if (got.join() !== want.join()) throw new Error(`our pull wrote platforms ${got.join()}, want ${want.join()}`);
        };
        const pullSkopeo = async (): Promise<void> => {
          const out = join(dir, `skopeo-${i}`);
          t.pullSkopeo.push(await time(() => skopeo(["copy", "--all", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `oci:${out}:${tag}`])));
        };
        if (i % 2 === 0) {
          await pullOurs();
          await pullSkopeo();
        } else {
          await pullSkopeo();
          await pullOurs();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
  return {
    pushOurs: stats(t.pushOurs),
    pushSkopeo: stats(t.pushSkopeo),
    pullOurs: stats(t.pullOurs),
    pullOursFetch: stats(t.pullOursFetch),
    pullSkopeo: stats(t.pullSkopeo),
  };
}
