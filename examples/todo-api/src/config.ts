/**
 * Server settings from the environment, validated up front so a bad value stops the
 * process with one clear line instead of a confusing failure later.
 */
export interface ServerConfig {
  port: number;
  /** ASP.NET-style name, printed as "Hosting environment: …". */
  environment: string;
  /** Test-only fixed clock (TODO_API_FAKE_NOW); undefined in normal runs. */
  fakeNow: Date | undefined;
  /** How long in-flight requests may run after SIGTERM/SIGINT before connections are cut. */
  shutdownTimeoutMs: number;
}

export const DEFAULT_PORT = 8080;
/** Leaves a margin under the 5 s that orchestrators (and `aotpack verify`) allow before SIGKILL. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 4000;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function integerIn(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

export function readConfig(env: Env): ServerConfig {
  const rawPort = nonEmpty(env.PORT);
  const rawFakeNow = nonEmpty(env.TODO_API_FAKE_NOW);
  const rawTimeout = nonEmpty(env.TODO_API_SHUTDOWN_TIMEOUT_MS);
  let fakeNow: Date | undefined;
  if (rawFakeNow !== undefined) {
    // An explicit zone keeps the instant unambiguous; TZ then decides the local date.
    const hasZone = /(?:Z|[+-]\d\d:?\d\d)$/i.test(rawFakeNow);
    fakeNow = new Date(rawFakeNow);
    if (!hasZone || Number.isNaN(fakeNow.getTime())) {
      throw new ConfigError(
        `TODO_API_FAKE_NOW must be an ISO 8601 instant with a zone, e.g. 2026-01-31T23:30:00Z, got ${JSON.stringify(rawFakeNow)}`,
      );
    }
  }
  return {
    port: rawPort === undefined ? DEFAULT_PORT : integerIn("PORT", rawPort, 0, 65535),
    // Same precedence as ASP.NET's WebApplication: ASPNETCORE_ wins over DOTNET_, default Production.
    environment: nonEmpty(env.ASPNETCORE_ENVIRONMENT) ?? nonEmpty(env.DOTNET_ENVIRONMENT) ?? "Production",
    fakeNow,
    shutdownTimeoutMs:
      rawTimeout === undefined
        ? DEFAULT_SHUTDOWN_TIMEOUT_MS
        : integerIn("TODO_API_SHUTDOWN_TIMEOUT_MS", rawTimeout, 0, 60000),
  };
}
