import { cpSync, writeFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { openStore, makeLocalImages, budToLayout, emulatedDockerfile } from "./buildah.ts";
import { setupBinfmt } from "../src/verify/index.ts";
const work = mkdtempSync("/tmp/bt/bw-");
const store = await openStore(work);
try {
  let t = performance.now();
  await makeLocalImages(store);
  console.log("images", (performance.now() - t) / 1000);
  const ctx = join(work, "ctx");
  cpSync("examples/todo-api", ctx, { recursive: true });
  const df = execFileSync("node", ["--import", "tsx", "src/cli/bin.ts", "dockerfile", ctx, "--platform", "linux/amd64,linux/arm64", "--stdout"], { encoding: "utf8" });
  writeFileSync(join(ctx, "Dockerfile"), df);
  writeFileSync(join(ctx, "Dockerfile.emulated"), emulatedDockerfile(df));
  for (const cache of [false, true]) {
    const r = await budToLayout(store, { dockerfile: join(ctx, "Dockerfile"), contextDir: ctx, layoutDir: join(work, `l-${cache}`), cache, name: "cross", timeoutMs: 900_000 });
    console.log("cross", cache, r);
  }
  console.log(await setupBinfmt());
  const r = await budToLayout(store, { dockerfile: join(ctx, "Dockerfile.emulated"), contextDir: ctx, layoutDir: join(work, `l-emu`), cache: false, name: "emu", timeoutMs: 1_200_000 });
  console.log("emu", r);
} finally { await store.close(); }
