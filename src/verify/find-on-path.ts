import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";

/** The first executable `name` in the directories of `searchPath` (default: $PATH), like `command -v`. */
export async function findOnPath(name: string, searchPath = process.env.PATH ?? ""): Promise<string | undefined> {
  for (const dir of searchPath.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
