// Fixture for src/dockerfile/build.test.ts: the generated Dockerfile compiles this with Bun for each platform.
import { createServer } from "node:http";

const port = Number(process.env.PORT ?? "8080");
const host = process.env.HOST ?? "127.0.0.1";

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ hello: "aotpack", greeting: process.env.GREETING ?? null }));
    return;
  }
  res.writeHead(404).end();
});
server.listen(port, host);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
