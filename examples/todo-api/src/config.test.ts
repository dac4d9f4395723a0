import { test } from "node:test";
import { deepEqual, equal, throws } from "node:assert/strict";
import { ConfigError, DEFAULT_SHUTDOWN_TIMEOUT_MS, readConfig } from "./config.ts";

test("defaults: port 8080, Production, real clock, 4 s shutdown", () => {
  deepEqual(readConfig({}), { port: 8080, environment: "Production", fakeNow: undefined, shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS });
  equal(readConfig({ PORT: "", ASPNETCORE_ENVIRONMENT: " " }).environment, "Production", "blank means unset");
});

test("ASPNETCORE_ENVIRONMENT wins over DOTNET_ENVIRONMENT; NODE_ENV is not read", () => {
  equal(readConfig({ DOTNET_ENVIRONMENT: "Development" }).environment, "Development");
  equal(readConfig({ ASPNETCORE_ENVIRONMENT: "Staging", DOTNET_ENVIRONMENT: "Development" }).environment, "Staging");
  equal(readConfig({ NODE_ENV: "development" }).environment, "Production");
});

test("PORT: 0-65535 only", () => {
  equal(readConfig({ PORT: "0" }).port, 0);
  equal(readConfig({ PORT: "65535" }).port, 65535);
  for (const bad of ["65536", "-1", "80a", "8080.0", "0x50"]) {
    throws(() => readConfig({ PORT: bad }), (error: unknown) => error instanceof ConfigError && error.message.includes(`got "${bad}"`));
  }
});

test("TODO_API_FAKE_NOW: an instant with an explicit zone", () => {
  equal(readConfig({ TODO_API_FAKE_NOW: "2026-01-31T23:30:00Z" }).fakeNow?.toISOString(), "2026-01-31T23:30:00.000Z");
  equal(readConfig({ TODO_API_FAKE_NOW: "2026-02-01T08:30:00+09:00" }).fakeNow?.toISOString(), "2026-01-31T23:30:00.000Z");
  for (const bad of ["2026-01-31T23:30:00", "2026-01-31", "tomorrow", "2026-13-01T00:00:00Z"]) {
    throws(() => readConfig({ TODO_API_FAKE_NOW: bad }), ConfigError, bad);
  }
});

test("TODO_API_SHUTDOWN_TIMEOUT_MS", () => {
  equal(readConfig({ TODO_API_SHUTDOWN_TIMEOUT_MS: "250" }).shutdownTimeoutMs, 250);
  throws(() => readConfig({ TODO_API_SHUTDOWN_TIMEOUT_MS: "soon" }), ConfigError);
});
