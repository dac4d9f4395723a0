// Test fixture for src/verify: a tiny Todo API on node:http (runs under Node and as a Bun
// --compile binary). Misbehaviours are switched on by env, so one binary yields every broken image:
//   TODO_IGNORE_SIGTERM=1  no SIGTERM handler (as PID 1 the signal is then ignored)
//   TODO_NO_LISTEN=1       logs, but never opens the port
//   TODO_EXIT_CODE=N       exits at once with code N
//   TODO_NOT_READY=N       answers the first N requests with 503 (warming up)
//   TODO_HOST=H            listen on H (default 0.0.0.0), e.g. localhost
//   TODO_SIGTERM_AFTER_MS=N installs its SIGTERM handler only N ms after it listens (as Fastify's
//                          `await app.listen(); process.on("SIGTERM", …)` does, only later)
//   TODO_SHUTDOWN_HOOKS=1  Nest's enableShutdownHooks(): on SIGTERM it closes, drops its listener and
//                          re-raises SIGTERM at itself (the default action then ends it)
//   TODO_WRITE_PATH=P      writes a file at P on start; GET / says "ok" or the error code (EROFS)
//   TODO_LISTEN_PORT=N     listens on N whatever PORT says (as `app.listen(3000)` does)
//   TODO_CRASH=1           throws at start from 20 calls deep (a Bun crash prints the message, then frames)
// POST /todos takes a JSON body (415 without content-type application/json; with TODO_TOKEN set, 401
// without "authorization: Bearer $TODO_TOKEN") and answers 201 with the new todo.
import { createServer } from "node:http";
import { readdirSync, writeFileSync } from "node:fs";

const port = Number(process.env.TODO_LISTEN_PORT || process.env.PORT || "8080");

if (process.env.TODO_CRASH === "1") {
  const deep = (n) => {
    if (n === 0) throw new Error("Could not find module root for the app: unable to determine transport target");
    return deep(n - 1) + 1;
  };
  deep(20);
}

let wrote;
if (process.env.TODO_WRITE_PATH) {
  try {
    writeFileSync(process.env.TODO_WRITE_PATH, "written by the app\n", { flag: "wx" }); // EEXIST: a run saw an earlier run's write
    wrote = "ok";
  } catch (err) {
    wrote = err.code ?? String(err);
  }
}
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
    return json(res, 200, { service: "todo", cwd: process.cwd(), uid: process.getuid?.(), pid: process.pid, root: readdirSync("/").sort(), ...(wrote ? { write: wrote } : {}) });
  }
  if (req.method === "POST" && url.pathname === "/todos") return createTodo(req, res);
  if (req.method === "GET" && url.pathname === "/todos") return json(res, 200, todos);
  const m = /^\/todos\/(\d+)$/.exec(url.pathname);
  if (req.method === "GET" && m) {
    const todo = todos.find((t) => t.id === Number(m[1]));
    return todo ? json(res, 200, todo) : json(res, 404, { error: "not found" });
  }
  return json(res, 404, { error: "not found" });
});

function createTodo(req, res) {
  if (process.env.TODO_TOKEN && req.headers.authorization !== `Bearer ${process.env.TODO_TOKEN}`) return json(res, 401, { error: "unauthorized" });
  if (!String(req.headers["content-type"] ?? "").startsWith("application/json")) return json(res, 415, { error: "expected application/json" });
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    let input;
    try {
      input = JSON.parse(body);
    } catch {
      return json(res, 400, { error: "body is not JSON" });
    }
    if (typeof input?.title !== "string") return json(res, 400, { error: "title missing" });
    const todo = { id: todos.length + 1, title: input.title, done: false };
    todos.push(todo);
    json(res, 201, todo);
  });
}

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
  if (process.env.TODO_SHUTDOWN_HOOKS === "1") {
    // As @nestjs/core does: after its own shutdown, hand the signal back to the default action.
    const hook = () => {
      console.log("todo-server: SIGTERM, closing, then re-raising it");
      server.close(() => {
        process.removeListener("SIGTERM", hook);
        process.kill(process.pid, "SIGTERM");
      });
      server.closeAllConnections?.();
    };
    process.on("SIGTERM", hook);
  }
  const after = Number(process.env.TODO_SIGTERM_AFTER_MS ?? "0");
  if (after > 0) server.once("listening", () => setTimeout(() => { install(); console.log("todo-server: SIGTERM handler installed"); }, after));
  else if (process.env.TODO_SHUTDOWN_HOOKS !== "1") install();
}
