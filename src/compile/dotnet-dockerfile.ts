/** The project side of `aotpack dockerfile` for .NET: what the csproj and the files beside it decide. */
import { readFile, readdir } from "node:fs/promises";
import { basename } from "node:path";
import { UsageError } from "../errors.ts";
import { property, readAotCsproj } from "./dotnet-aot.ts";
import { DOTNET_RESTORE_INPUTS, type DotnetDockerfilePlan } from "../dockerfile/render-dotnet.ts";

type Shared = Pick<DotnetDockerfilePlan, "appName" | "platforms" | "port" | "user" | "env" | "sdkImage" | "runtimeImage">;

export async function dotnetDockerfilePlan(projectDir: string, shared: Shared): Promise<DotnetDockerfilePlan> {
  const facts = await readAotCsproj(projectDir);
  const xml = await readFile(facts.path, "utf8");
  const tfm = property(xml, "TargetFramework") ?? "";
  const version = /^net(\d+\.\d+)$/.exec(tfm)?.[1];
  if (!version) {
    throw new UsageError(`${basename(facts.path)}: TargetFramework "${tfm}" is not one netX.Y`, { hint: "NativeAOT images need a single target framework such as net10.0" });
  }
  const present = new Set(await readdir(projectDir));
  const plan: DotnetDockerfilePlan = {
    ...shared,
    csproj: basename(facts.path),
    assemblyName: facts.assemblyName,
    dotnetVersion: version,
    invariantGlobalization: facts.invariantGlobalization,
    restoreInputs: DOTNET_RESTORE_INPUTS.filter((f) => present.has(f)),
  };
  for (const k of ["sdkImage", "runtimeImage"] as const) if (plan[k] === undefined) delete plan[k];
  return plan;
}
