// Test fixture for src/verify: a tiny Todo API on node:http (runs under Node and as a Bun
// --compile binary). Misbehaviours are switched on by env, so one binary yields every broken image:
//   TODO_IGNORE_SIGTERM=1  no SIGTERM handler (as PID 1 the signal is then ignored)
//   TODO_NO_LISTEN=1       logs, but never opens the port
//   TODO_EXIT_CODE=N       exits at once with code N
//   TODO_NOT_READY=N       answers the first N requests with 503 (warming up)
//   TODO_HOST=H            listen on H (default 0.0.0.0), e.g. localhost
//   TODO_SIGTERM_AFTER_MS=N installs its SIGTERM handler only N ms after it listens (as Fastify's
//                          `await app.listen(); process.on("SIGTERM", …)` does, only later)
import { createServer } from "node:http";
import { readdirSync } from "node:fs";

const port = Number(process.env.PORT ?? "8080");
const todos = [
  { id: 1, title: "write the verifier", done: false },
  { id: 2, title: "run it under qemu", done: true },
];

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

let notReady = Number(process.env.TODO_NOT_READY ?? "0");
const server = createServer((req, res) => {
  if (notReady > 0) {
    notReady--;
    return json(res, 503, { error: "warming up" });
  }
  const url = new URL(req.url ?? "/", "http://x");
  if (req.method === "GET" && url.pathname === "/") {
    // What the app sees of its sandbox: tests check the chroot, the PID namespace and the User.
    return json(res, 200, { service: "todo", cwd: process.cwd(), uid: process.getuid?.(), pid: process.pid, root: readdirSync("/").sort() });
  }
  if (req.method === "GET" && url.pathname === "/todos") return json(res, 200, todos);
  const m = /^\/todos\/(\d+)$/.exec(url.pathname);
  if (req.method === "GET" && m) {
    const todo = todos.find((t) => t.id === Number(m[1]));
    return todo ? json(res, 200, todo) : json(res, 404, { error: "not found" });
  }
  return json(res, 404, { error: "not found" });
});

if (process.env.TODO_EXIT_CODE) {
  console.error(`todo-server: exiting with ${process.env.TODO_EXIT_CODE} as asked`);
  process.exit(Number(process.env.TODO_EXIT_CODE));
} else if (process.env.TODO_NO_LISTEN === "1") {
  console.log("todo-server: starting (this one never opens its port)");
  console.error("todo-server: waiting for a database that never comes");
  setInterval(() => {}, 1 << 30);
} else {
  const host = process.env.TODO_HOST || "0.0.0.0"; // TODO_HOST=localhost needs /etc/hosts in the sandbox
  server.listen(port, host, () => console.log(`todo-server listening on ${host}:${port}`));
}

if (process.env.TODO_IGNORE_SIGTERM !== "1") {
  const stop = (signal) => {
    console.log(`todo-server: ${signal}, closing`);
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  };
  const install = () => {
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  };
  const after = Number(process.env.TODO_SIGTERM_AFTER_MS ?? "0");
  if (after > 0) server.once("listening", () => setTimeout(() => { install(); console.log("todo-server: SIGTERM handler installed"); }, after));
  else install();
}
