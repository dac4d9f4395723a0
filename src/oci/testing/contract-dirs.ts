/** A temp root per contract suite (removed after it) and a fresh directory per test: what every contract suite needs. */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";

/** Call inside a `describe`; the returned function makes the next test's directory. */
export function contractDirs(prefix: string): () => Promise<{ dir: string }> {
  let root = "";
  let n = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  return async () => {
    const dir = join(root, `t${++n}`);
    await mkdir(dir);
    return { dir };
  };
}
