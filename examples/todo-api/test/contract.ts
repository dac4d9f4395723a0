/**
 * The Todo API's HTTP contract as a reusable suite: point it at any running instance (from
 * source, a compiled executable, or a container image under `aotpack verify`) and it returns
 * one result per check instead of stopping at the first failure.
 *
 * Dates: pass `today` when the server's clock is fixed (TODO_API_FAKE_NOW) for exact checks.
 * Without it (real images), each response's "today" is derived from todo 2, must be within
 * ±1 day of the host's UTC date (time zones), and todos 3 and 5 are checked relative to it;
 * a response may also be one day later than the first, in case the run straddles midnight.
 */
import { request } from "node:http";
import { AssertionError, deepEqual, equal, match, ok } from "node:assert/strict";

export interface ContractOptions {
  /** Exact server-local date, yyyy-MM-dd; omit to derive it from the responses. */
  today?: string;
  /** The server's environment name; "Development" (any case) expects the OpenAPI document. */
  environment: string;
  /** Host clock used to sanity-check a derived `today` (default: the real clock). */
  hostNow?: () => Date;
  /** Bound for each request (default 5000 ms). */
  requestTimeoutMs?: number;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  /** Why it failed; absent when ok. */
  detail?: string;
}

export interface ExpectedTodo {
  id: number;
  title: string;
  dueBy: string | null;
  isComplete: boolean;
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";
const TODO_KEYS = ["id", "title", "dueBy", "isComplete"];
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Calendar arithmetic on yyyy-MM-dd. */
export function addDays(date: string, days: number): string {
  const [year, month, day] = date.split("-").map(Number);
  return new Date(Date.UTC(year ?? NaN, (month ?? NaN) - 1, (day ?? NaN) + days)).toISOString().slice(0, 10);
}

export function expectedTodos(today: string): ExpectedTodo[] {
  return [
    { id: 1, title: "Walk the dog", dueBy: null, isComplete: false },
    { id: 2, title: "Do the dishes", dueBy: today, isComplete: false },
    { id: 3, title: "Do the laundry", dueBy: addDays(today, 1), isComplete: false },
    { id: 4, title: "Clean the bathroom", dueBy: null, isComplete: false },
    { id: 5, title: "Clean the car", dueBy: addDays(today, 2), isComplete: false },
  ];
}

/** One request on its own connection (no pooling, so nothing outlives the suite). */
export function httpRequest(baseUrl: string, method: string, path: string, timeoutMs = 5000): Promise<HttpReply> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: base.hostname.replace(/^\[|\]$/g, ""),
        port: base.port,
        method,
        path, // sent as written, so tests can send raw escapes like %20
        agent: false,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function header(reply: HttpReply, name: string): string | undefined {
  const value = reply.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function assertJsonHeaders(reply: HttpReply): void {
  equal(header(reply, "content-type"), JSON_CONTENT_TYPE, "content-type");
  const length = header(reply, "content-length");
  if (length !== undefined) equal(Number(length), reply.body.byteLength, "content-length matches the body");
}

function assertEmpty(reply: HttpReply, status: number): void {
  equal(reply.status, status, "status");
  equal(reply.body.byteLength, 0, "body is empty");
  const length = header(reply, "content-length");
  ok(length === "0" || (length === undefined && header(reply, "transfer-encoding") === undefined), "content-length: 0");
  equal(header(reply, "content-type"), undefined, "no content-type on an empty response");
}

function assertTodoShape(value: unknown, where: string): asserts value is ExpectedTodo {
  ok(typeof value === "object" && value !== null && !Array.isArray(value), `${where} is an object`);
  deepEqual(Object.keys(value), TODO_KEYS, `${where}: keys in order id,title,dueBy,isComplete`);
  const todo = value as Record<string, unknown>;
  ok(Number.isInteger(todo.id), `${where}.id is an integer`);
  equal(typeof todo.title, "string", `${where}.title is a string`);
  ok(todo.dueBy === null || (typeof todo.dueBy === "string" && DATE_PATTERN.test(todo.dueBy)), `${where}.dueBy is null or yyyy-MM-dd`);
  equal(todo.isComplete, false, `${where}.isComplete`);
}

function parseJson(reply: HttpReply): unknown {
  try {
    return JSON.parse(reply.body.toString("utf8"));
  } catch {
    throw new AssertionError({ message: `body is not JSON: ${JSON.stringify(reply.body.toString("utf8").slice(0, 120))}` });
  }
}

export async function todoContract(baseUrl: string, options: ContractOptions): Promise<CheckResult[]> {
  const timeoutMs = options.requestTimeoutMs ?? 5000;
  const get = (path: string, method = "GET"): Promise<HttpReply> => httpRequest(baseUrl, method, path, timeoutMs);
  const isDevelopment = options.environment.toLowerCase() === "development";
  const results: CheckResult[] = [];

  async function check(name: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
      results.push({ name, ok: true });
    } catch (error) {
      results.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error) });
    }
  }

  // The server's "today": given, or derived from the first GET /todos/2 (see the module comment).
  let today: string | undefined = options.today;
  const derived = options.today === undefined;
  function knownToday(): string {
    if (today === undefined) throw new AssertionError({ message: "today is unknown: GET /todos/2 failed" });
    return today;
  }
  /**
   * The body must be exactly `expected(today)`. With a derived today, `expected(today + 1)` is
   * accepted only if the server itself now says the day has rolled over (the run straddled midnight).
   */
  async function assertBodyForToday(reply: HttpReply, expected: (day: string) => unknown): Promise<void> {
    const text = reply.body.toString("utf8");
    const current = knownToday();
    if (text === JSON.stringify(expected(current))) return;
    const next = addDays(current, 1);
    if (derived && text === JSON.stringify(expected(next))) {
      const recheck = await get("/todos/2");
      if (recheck.status === 200 && (JSON.parse(recheck.body.toString("utf8")) as ExpectedTodo).dueBy === next) {
        today = next;
        return;
      }
    }
    equal(text, JSON.stringify(expected(current)), "body (exact bytes)");
  }

  await check("GET /todos/2 → 200, dueBy is today", async () => {
    const reply = await get("/todos/2");
    equal(reply.status, 200, "status");
    assertJsonHeaders(reply);
    const todo = parseJson(reply);
    assertTodoShape(todo, "todo 2");
    ok(typeof todo.dueBy === "string", "todo 2 has a dueBy");
    if (options.today !== undefined) {
      equal(todo.dueBy, options.today, "todo 2 dueBy is today");
    } else {
      const hostToday = (options.hostNow ?? (() => new Date()))().toISOString().slice(0, 10);
      const nearHost = [-1, 0, 1].map((days) => addDays(hostToday, days));
      ok(nearHost.includes(todo.dueBy), `today ${todo.dueBy} is within ±1 day of the host's UTC date ${hostToday}`);
      today = todo.dueBy;
    }
  });

  await check("GET /todos → 200, the five todos, exact JSON", async () => {
    const reply = await get("/todos");
    equal(reply.status, 200, "status");
    assertJsonHeaders(reply);
    const list = parseJson(reply);
    ok(Array.isArray(list), "body is an array");
    equal(list.length, 5, "five todos");
    list.forEach((todo, index) => assertTodoShape(todo, `todo[${index}]`));
    try {
      await assertBodyForToday(reply, expectedTodos);
    } catch (error) {
      deepEqual(list, expectedTodos(knownToday()), "todos"); // the readable diff, when the values differ
      throw error;
    }
  });

  await check("responses carry a Date header", async () => {
    const reply = await get("/todos");
    const date = header(reply, "date");
    ok(date !== undefined && !Number.isNaN(Date.parse(date)), `Date header ${String(date)}`);
  });

  for (const path of ["/todos/", "/Todos", "/TODOS/", "/todos?page=2"]) {
    await check(`GET ${path} → same as GET /todos (ASP.NET routing)`, async () => {
      const reply = await get(path);
      equal(reply.status, 200, "status");
      assertJsonHeaders(reply);
      await assertBodyForToday(reply, expectedTodos);
    });
  }

  for (const id of [1, 2, 3, 4, 5]) {
    await check(`GET /todos/${id} → 200, todo ${id}, exact JSON`, async () => {
      const reply = await get(`/todos/${id}`);
      equal(reply.status, 200, "status");
      assertJsonHeaders(reply);
      assertTodoShape(parseJson(reply), `todo ${id}`);
      await assertBodyForToday(reply, (today) => expectedTodos(today)[id - 1]);
    });
  }

  // int.TryParse(NumberStyles.Integer, InvariantCulture): sign, leading zeros and surrounding spaces bind.
  for (const path of ["/todos/+2", "/todos/002", "/todos/%202", "/todos/2/"]) {
    await check(`GET ${path} → 200, todo 2 (int binding)`, async () => {
      const reply = await get(path);
      equal(reply.status, 200, "status");
      assertJsonHeaders(reply);
      await assertBodyForToday(reply, (today) => expectedTodos(today)[1]);
    });
  }

  for (const id of ["0", "6", "-1", "-0", "2147483647", "-2147483648"]) {
    await check(`GET /todos/${id} → 404, empty body`, async () => {
      assertEmpty(await get(`/todos/${id}`), 404);
    });
  }

  for (const id of ["abc", "1.5", "1e3", "0x1", "%20", "2147483648", "-2147483649", "99999999999999999999"]) {
    await check(`GET /todos/${id} → 400, empty body (failed int binding)`, async () => {
      assertEmpty(await get(`/todos/${id}`), 400);
    });
  }

  for (const path of ["/", "/nope", "/todo", "/todos/1/extra", "/healthz/x"]) {
    await check(`GET ${path} → 404, empty body`, async () => {
      assertEmpty(await get(path), 404);
    });
  }

  await check("HEAD /todos → 200, GET's headers, no body", async () => {
    const [head, full] = [await get("/todos", "HEAD"), await get("/todos")];
    equal(head.status, 200, "status");
    equal(header(head, "content-type"), JSON_CONTENT_TYPE, "content-type");
    equal(head.body.byteLength, 0, "no body");
    const length = header(head, "content-length");
    if (length !== undefined) equal(Number(length), full.body.byteLength, "content-length is GET's");
  });

  for (const [method, path] of [["POST", "/todos"], ["DELETE", "/todos/1"], ["PUT", "/todos/1"]] as const) {
    await check(`${method} ${path} → 405 with Allow: GET`, async () => {
      const reply = await get(path, method);
      equal(reply.status, 405, "status");
      match(header(reply, "allow") ?? "", /\bGET\b/, "Allow names GET");
      equal(reply.body.byteLength, 0, "body is empty");
    });
  }

  await check("GET /healthz → 200", async () => {
    const reply = await get("/healthz");
    equal(reply.status, 200, "status");
    equal(reply.body.toString("utf8"), "Healthy", "body");
  });

  if (isDevelopment) {
    await check("GET /openapi/v1.json → 200, OpenAPI 3.x for both endpoints and Todo (Development)", async () => {
      const reply = await get("/openapi/v1.json");
      equal(reply.status, 200, "status");
      assertJsonHeaders(reply);
      assertOpenApiDocument(parseJson(reply));
    });
  } else {
    await check(`GET /openapi/v1.json → 404 (${options.environment})`, async () => {
      assertEmpty(await get("/openapi/v1.json"), 404);
    });
  }

  return results;
}

type Json = Record<string, unknown>;
function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    ok(typeof current === "object" && current !== null, `${path.join(".")}: ${key} has a parent object`);
    current = (current as Json)[key];
  }
  return current;
}

/** int32, written either plainly or as ASP.NET 10 does (`"type": ["integer", "string"]` plus a pattern). */
function assertInt32Schema(schema: unknown, where: string): void {
  const type = at(schema, "type");
  ok(type === "integer" || (Array.isArray(type) && type.includes("integer")), `${where} is an integer`);
  equal(at(schema, "format"), "int32", `${where} format`);
}

/** The parts of ASP.NET's generated document that describe this API. */
export function assertOpenApiDocument(doc: unknown): void {
  match(String(at(doc, "openapi")), /^3\.\d+\.\d+$/, "openapi version 3.x");
  ok(typeof at(doc, "info", "title") === "string", "info.title");
  ok(typeof at(doc, "info", "version") === "string", "info.version");
  const todoRef = { $ref: "#/components/schemas/Todo" };
  equal(at(doc, "paths", "/todos", "get", "operationId"), "GetTodos", "GET /todos operationId");
  deepEqual(
    at(doc, "paths", "/todos", "get", "responses", "200", "content", "application/json", "schema"),
    { type: "array", items: todoRef },
    "GET /todos returns Todo[]",
  );
  equal(at(doc, "paths", "/todos/{id}", "get", "operationId"), "GetTodoById", "GET /todos/{id} operationId");
  const parameters = at(doc, "paths", "/todos/{id}", "get", "parameters");
  ok(Array.isArray(parameters) && parameters.length === 1, "one parameter");
  const parameter = parameters[0] as Json;
  deepEqual([parameter.name, parameter.in, parameter.required], ["id", "path", true], "id is a required path parameter");
  assertInt32Schema(parameter.schema, "id parameter");
  deepEqual(
    at(doc, "paths", "/todos/{id}", "get", "responses", "200", "content", "application/json", "schema"),
    todoRef,
    "GET /todos/{id} returns Todo",
  );
  ok(at(doc, "paths", "/todos/{id}", "get", "responses", "404") !== undefined, "GET /todos/{id} documents 404");
  deepEqual(Object.keys(at(doc, "paths") as Json), ["/todos", "/todos/{id}"], "exactly the two endpoints");
  equal(at(doc, "components", "schemas", "Todo", "type"), "object", "Todo is an object");
  const properties = at(doc, "components", "schemas", "Todo", "properties") as Json;
  deepEqual(Object.keys(properties), TODO_KEYS, "Todo properties in order");
  assertInt32Schema(properties.id, "Todo.id");
  deepEqual(properties.title, { type: ["null", "string"] }, "Todo.title");
  deepEqual(properties.dueBy, { type: ["null", "string"], format: "date" }, "Todo.dueBy");
  equal(at(properties, "isComplete", "type"), "boolean", "Todo.isComplete");
}

/** Throws one AssertionError listing every failed check (for node:test). */
export function assertContract(results: CheckResult[]): void {
  ok(results.length > 0, "the contract ran no checks");
  const failed = results.filter((result) => !result.ok);
  if (failed.length > 0) {
    throw new AssertionError({
      message:
        `${failed.length} of ${results.length} contract checks failed:\n` +
        failed.map((result) => `  ✗ ${result.name}: ${result.detail ?? ""}`).join("\n"),
    });
  }
}
