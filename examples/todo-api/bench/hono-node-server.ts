/** Variant "hono": Hono served by @hono/node-server, i.e. node:http underneath (runs on Bun and Node). */
import { serve } from "@hono/node-server";
import { honoApp } from "./hono-app.ts";

const server = serve({ fetch: honoApp.fetch, port: Number(process.env.PORT ?? 8080), hostname: "::" }, (info) => {
  console.log(`Now listening on: http://[::]:${info.port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
