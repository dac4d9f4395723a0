// Hono on @hono/node-server, serving ./public (relative to the image's WorkingDir, /app).
import { Hono } from "hono";
import { serve } from "@hono/node-server";
import { serveStatic } from "@hono/node-server/serve-static";

const app = new Hono();
app.get("/api/time", (c) => c.json({ now: Date.now() }));
app.use("/*", serveStatic({ root: "./public" }));

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) });
process.on("SIGTERM", () => server.close(() => process.exit(0)));
