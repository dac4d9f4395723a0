/**
 * The build's SOURCE_DATE_EPOCH: the variable when set, else the last git commit's time when the
 * project is in a git repo (so `docker images` shows a real date and rebuilds of one commit
 * stay byte-identical), else 0.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { sourceDateEpoch } from "../oci/layer.ts";

const run = promisify(execFile);

export type EpochSource = "SOURCE_DATE_EPOCH" | "git" | "default";

export async function defaultSourceDateEpoch(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ epoch: number; source: EpochSource }> {
  if (env.SOURCE_DATE_EPOCH !== undefined && env.SOURCE_DATE_EPOCH.trim() !== "") return { epoch: sourceDateEpoch(env), source: "SOURCE_DATE_EPOCH" };
  try {
    const out = (await run("git", ["-C", dir, "log", "-1", "--format=%ct"], { timeout: 5000 })).stdout.trim();
    if (/^\d+$/.test(out)) return { epoch: Number(out), source: "git" };
  } catch {
    // Not a git checkout, or no commit yet.
  }
  return { epoch: 0, source: "default" };
}

/** One progress line saying which timestamp every file and the image carry, and why. */
export function describeEpoch(epoch: number, source: EpochSource | "option"): string {
  const iso = new Date(epoch * 1000).toISOString().replace(".000Z", "Z");
  const why = { SOURCE_DATE_EPOCH: "from SOURCE_DATE_EPOCH", git: "the last git commit's time", default: "not a git repo and SOURCE_DATE_EPOCH unset", option: "from the build options" }[source];
  return `timestamps: SOURCE_DATE_EPOCH=${epoch} (${iso}, ${why})`;
}
