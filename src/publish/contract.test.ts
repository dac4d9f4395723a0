import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { readLayout } from "../oci/layout-source.ts";
import { layoutPublisher } from "./layout.ts";
import { ociArchivePublisher } from "./oci-archive.ts";
import { publisherContract } from "./testing/publisher-contract.ts";

/** The tagged item, or undefined when the output or the tag does not exist. */
async function readTag(path: string, tag: string) {
  if (!(await stat(path).catch(() => undefined))) return undefined;
  const layout = await readLayout(path);
  if (!(await layout.tags()).includes(tag)) return undefined;
  return layout.resolve(tag);
}

async function tempFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.name.includes(".tmp-")) out.push(p);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

/** Blobs in a layout dir that nothing in index.json reaches (what a failed publish must not leave). */
async function orphanBlobs(dir: string): Promise<string[]> {
  if (!(await stat(join(dir, "index.json")).catch(() => undefined))) return [];
  const reachable = new Set<string>();
  const visit = async (desc: { digest: string; mediaType?: string }): Promise<void> => {
    if (reachable.has(desc.digest)) return;
    reachable.add(desc.digest);
    if (!desc.mediaType || !/manifest|index/.test(desc.mediaType)) return;
    const m = JSON.parse(await readFile(join(dir, "blobs", "sha256", desc.digest.slice(7)), "utf8")) as {
      manifests?: { digest: string; mediaType: string }[];
      config?: { digest: string };
      layers?: { digest: string }[];
    };
    for (const c of m.manifests ?? []) await visit(c);
    if (m.config) reachable.add(m.config.digest);
    for (const l of m.layers ?? []) reachable.add(l.digest);
  };
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: { digest: string; mediaType: string }[] };
  for (const d of index.manifests) await visit(d);
  const files = await readdir(join(dir, "blobs", "sha256")).catch(() => [] as string[]);
  return files.filter((f) => !reachable.has(`sha256:${f}`)).map((f) => join(dir, "blobs", "sha256", f));
}

publisherContract(
  "oci layout directory",
  (ctx) => layoutPublisher(join(ctx.dir, "layout")),
  (_p, tag, ctx) => readTag(join(ctx.dir, "layout"), tag),
  {
    leftovers: async (ctx) => [...(await tempFilesUnder(join(ctx.dir, "layout"))), ...(await orphanBlobs(join(ctx.dir, "layout")))],
  },
);

publisherContract(
  "oci-archive",
  (ctx) => ociArchivePublisher(join(ctx.dir, "image.tar")),
  (_p, tag, ctx) => readTag(join(ctx.dir, "image.tar"), tag),
  { leftovers: (ctx) => tempFilesUnder(ctx.dir).then((l) => l.filter((p) => !p.includes("/work/"))) },
);

