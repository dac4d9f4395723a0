/**
 * The contract suite must be able to fail: run it against in-process servers that break one
 * rule each and check that exactly the right checks report it.
 */
import { test } from "node:test";
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createTodoApp, type AppResponse } from "../src/app.ts";
import { addDays, assertContract, todoContract, type CheckResult } from "./contract.ts";

type Mutation = (method: string, path: string, response: AppResponse) => AppResponse;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function withApp<T>(
  options: { now: Date | (() => Date); environment: string; mutate?: Mutation },
  body: (baseUrl: string) => Promise<T>,
): Promise<T> {
  const clock = options.now;
  const app = createTodoApp({ now: typeof clock === "function" ? clock : () => clock, environment: options.environment });
  const server: Server = createServer((request, response) => {
    const method = request.method ?? "GET";
    const path = request.url ?? "/";
    const result = (options.mutate ?? ((_m, _p, r) => r))(method, path, app.handle(method, path));
    response.writeHead(result.status, result.headers);
    response.end(result.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const address = server.address();
    if (typeof address !== "object" || address === null) throw new Error("no address");
    return await body(`http://127.0.0.1:${address.port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function withBody(response: AppResponse, body: string): AppResponse {
  const bytes = encoder.encode(body);
  return { ...response, headers: { ...response.headers, "content-length": String(bytes.byteLength) }, body: bytes };
}

const failedNames = (results: CheckResult[]): string[] => results.filter((r) => !r.ok).map((r) => r.name);
// Local noon keeps "today" the same in every TZ the host may have.
const NOW = new Date(2026, 0, 31, 12, 0, 0);
const TODAY = "2026-01-31";

test("a correct server passes every check, with a fixed or a derived today", async () => {
  await withApp({ now: NOW, environment: "Production" }, async (baseUrl) => {
    assertContract(await todoContract(baseUrl, { today: TODAY, environment: "Production" }));
    assertContract(await todoContract(baseUrl, { environment: "Production", hostNow: () => new Date("2026-01-31T20:00:00Z") }));
  });
  await withApp({ now: NOW, environment: "Development" }, async (baseUrl) => {
    const results = await todoContract(baseUrl, { today: TODAY, environment: "Development" });
    assertContract(results);
    ok(results.some((r) => r.name.startsWith("GET /openapi/v1.json → 200")));
  });
});

test("wrong content type fails every JSON check", async () => {
  const mutate: Mutation = (_m, _p, r) =>
    r.headers["content-type"] === undefined ? r : { ...r, headers: { ...r.headers, "content-type": "application/json" } };
  await withApp({ now: NOW, environment: "Production", mutate }, async (baseUrl) => {
    const failed = failedNames(await todoContract(baseUrl, { today: TODAY, environment: "Production" }));
    ok(failed.includes("GET /todos → 200, the five todos, exact JSON"), failed.join("\n"));
    ok(failed.includes("GET /todos/4 → 200, todo 4, exact JSON"));
    ok(!failed.includes("GET /todos/6 → 404, empty body"));
  });
});

test("keys out of order fail, even though the values are right", async () => {
  const mutate: Mutation = (method, path, r) =>
    method === "GET" && path === "/todos" ? withBody(r, decoder.decode(r.body).replace(/"dueBy":(null|"[^"]*"),"isComplete":false/g, '"isComplete":false,"dueBy":$1')) : r;
  await withApp({ now: NOW, environment: "Production", mutate }, async (baseUrl) => {
    const results = await todoContract(baseUrl, { today: TODAY, environment: "Production" });
    deepEqual(failedNames(results), ["GET /todos → 200, the five todos, exact JSON"]);
    ok(results.find((r) => !r.ok)?.detail?.includes("keys in order"));
  });
});

test("wrong dates fail: exact today, and a derived today too far from the host's date", async () => {
  await withApp({ now: NOW, environment: "Production" }, async (baseUrl) => {
    const exact = failedNames(await todoContract(baseUrl, { today: addDays(TODAY, 1), environment: "Production" }));
    ok(exact.includes("GET /todos/2 → 200, dueBy is today"));
    ok(exact.includes("GET /todos/3 → 200, todo 3, exact JSON"));
    const derived = failedNames(await todoContract(baseUrl, { environment: "Production", hostNow: () => new Date("2026-02-03T00:00:00Z") }));
    ok(derived.includes("GET /todos/2 → 200, dueBy is today"), derived.join("\n"));
  });
  // todo 5 two days out is part of the contract: a server putting it at +3 fails only that todo.
  const mutate: Mutation = (_m, path, r) => (path === "/todos/5" ? withBody(r, decoder.decode(r.body).replace(addDays(TODAY, 2), addDays(TODAY, 3))) : r);
  await withApp({ now: NOW, environment: "Production", mutate }, async (baseUrl) => {
    deepEqual(failedNames(await todoContract(baseUrl, { environment: "Production", hostNow: () => NOW })), ["GET /todos/5 → 200, todo 5, exact JSON"]);
  });
});

test("derived today: a run that straddles midnight passes, because the server confirms the new day", async () => {
  let requests = 0;
  const clock = (): Date => (++requests <= 3 ? new Date(2026, 0, 31, 23, 59, 59) : new Date(2026, 1, 1, 0, 0, 1));
  await withApp({ now: clock, environment: "Production" }, async (baseUrl) => {
    assertContract(await todoContract(baseUrl, { environment: "Production", hostNow: () => new Date(2026, 0, 31, 23, 59, 59) }));
    ok(requests > 3, "the clock did cross midnight during the run");
  });
});

test("binding failures answered 404, a body on 404, and OpenAPI outside Development all fail", async () => {
  const mutate: Mutation = (_m, path, r) => {
    if (r.status === 400) return { ...r, status: 404 };
    if (path === "/todos/6") return withBody(r, "not found");
    return r;
  };
  await withApp({ now: NOW, environment: "Development", mutate }, async (baseUrl) => {
    const failed = failedNames(await todoContract(baseUrl, { today: TODAY, environment: "Production" }));
    ok(failed.includes("GET /todos/abc → 400, empty body (failed int binding)"));
    ok(failed.includes("GET /todos/2147483648 → 400, empty body (failed int binding)"));
    ok(failed.includes("GET /todos/6 → 404, empty body"));
    ok(failed.includes("GET /openapi/v1.json → 404 (Production)"));
  });
});

test("assertContract lists every failure and refuses an empty run", () => {
  throws(() => assertContract([{ name: "a", ok: true }, { name: "b", ok: false, detail: "why" }]), /1 of 2 contract checks failed:\n {2}✗ b: why/);
  throws(() => assertContract([]), /ran no checks/);
  equal(addDays("2028-02-28", 1), "2028-02-29");
});

/** run-contract.ts as CI would call it; bounded. */
function runContractCli(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const script = fileURLToPath(new URL("./run-contract.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("run-contract.ts still running after 30 s"));
    }, 30_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

test("run-contract.ts: exit 0 when every check passes, 1 with the failures listed, 2 on bad arguments", { timeout: 90_000 }, async () => {
  await withApp({ now: NOW, environment: "Production" }, async (baseUrl) => {
    const passed = await runContractCli([baseUrl, "--today", TODAY]);
    equal(passed.code, 0, passed.stdout);
    ok(/(\d+) of \1 checks passed/.test(passed.stdout), passed.stdout);
  });
  const mutate: Mutation = (_m, path, r) => (path === "/healthz" ? { ...r, status: 503 } : r);
  await withApp({ now: NOW, environment: "Production", mutate }, async (baseUrl) => {
    const failed = await runContractCli([baseUrl, "--environment", "Production"]);
    equal(failed.code, 1, failed.stdout);
    ok(failed.stdout.includes("FAIL GET /healthz → 200: status 503 !== 200"), failed.stdout);
  });
  equal((await runContractCli(["localhost:8080"])).code, 2);
});
