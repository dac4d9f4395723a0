/** Variant "hono-bun" (Bun only): Hono's router behind Bun.serve. */
import { honoApp } from "./hono-app.ts";

const server = Bun.serve({ port: Number(process.env.PORT ?? 8080), hostname: "::", fetch: honoApp.fetch });
console.log(`Now listening on: http://[::]:${server.port}`);
process.on("SIGTERM", () => {
  server.stop();
  process.exit(0);
});
