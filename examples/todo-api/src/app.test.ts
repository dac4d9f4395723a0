import { afterEach, beforeEach, describe, test } from "node:test";
import { deepEqual, equal } from "node:assert/strict";
import { createTodoApp, localDate, parseInt32, pathSegments, sampleTodos, type AppResponse } from "./app.ts";
import { openApiDocument } from "./openapi.ts";

const decoder = new TextDecoder();
const text = (response: AppResponse): string => decoder.decode(response.body);
const fixed = (iso: string) => () => new Date(iso);

describe("parseInt32 mirrors int.TryParse(NumberStyles.Integer, InvariantCulture)", () => {
  const cases: [string, number | undefined][] = [
    ["1", 1],
    ["+2", 2],
    ["-3", -3],
    ["007", 7],
    ["-0", 0],
    [" 4\t", 4],
    ["\n5\r", 5],
    ["2147483647", 2147483647],
    ["-2147483648", -2147483648],
    ["00000000002147483647", 2147483647],
    ["2147483648", undefined],
    ["-2147483649", undefined],
    ["99999999999", undefined],
    ["", undefined],
    [" ", undefined],
    ["+", undefined],
    ["1.0", undefined],
    ["1e3", undefined],
    ["0x1", undefined],
    ["1_000", undefined],
    ["1 2", undefined],
    ["+-1", undefined],
    ["\u00a01", undefined], // NBSP is not .NET "white" for numbers
    ["١", undefined], // Arabic-Indic digit: only ASCII digits bind
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${String(expected)}`, () => {
      const parsed = parseInt32(input);
      equal(parsed, expected);
      if (parsed === 0) equal(Object.is(parsed, -0), false, "never -0");
    });
  }
});

describe("pathSegments", () => {
  test("drops query and one trailing slash, decodes per segment", () => {
    deepEqual(pathSegments("/todos/?x=1"), ["todos"]);
    deepEqual(pathSegments("/todos/%31#frag"), ["todos", "1"]);
    deepEqual(pathSegments("/a%2Fb/c"), ["a/b", "c"]);
    deepEqual(pathSegments("/"), [""]);
    deepEqual(pathSegments("/todos/%zz"), ["todos", "%zz"]);
    deepEqual(pathSegments("http://host:8080/todos/2?q"), ["todos", "2"]);
  });
});

describe("localDate follows the process time zone (TZ)", () => {
  let savedTz: string | undefined;
  beforeEach(() => (savedTz = process.env.TZ));
  afterEach(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  test("one instant, three zones, three dates", () => {
    const instant = new Date("2026-01-31T23:30:00Z");
    process.env.TZ = "UTC";
    equal(localDate(instant), "2026-01-31");
    process.env.TZ = "Asia/Tokyo";
    equal(localDate(instant), "2026-02-01");
    process.env.TZ = "Pacific/Pago_Pago";
    equal(localDate(instant), "2026-01-31");
  });

  test("adding days is calendar arithmetic: across month, year, leap day and DST", () => {
    process.env.TZ = "UTC";
    equal(localDate(new Date("2026-01-31T12:00:00Z"), 1), "2026-02-01");
    equal(localDate(new Date("2026-12-31T12:00:00Z"), 2), "2027-01-02");
    equal(localDate(new Date("2028-02-28T12:00:00Z"), 1), "2028-02-29");
    equal(localDate(new Date("2027-02-28T12:00:00Z"), 1), "2027-03-01");
    // 23:30 local on the day before Europe's autumn change: a 25-hour day must not repeat a date.
    process.env.TZ = "Europe/Berlin";
    const beforeFallBack = new Date("2026-10-24T21:30:00Z");
    equal(localDate(beforeFallBack), "2026-10-24");
    equal(localDate(beforeFallBack, 1), "2026-10-25");
    equal(localDate(beforeFallBack, 2), "2026-10-26");
  });
});

describe("createTodoApp", () => {
  const production = () => createTodoApp({ now: fixed("2026-01-31T12:00:00Z"), environment: "Production" });

  test("GET /todos: the post's five todos, compact JSON in declaration order", () => {
    const saved = process.env.TZ;
    process.env.TZ = "UTC";
    try {
      const response = production().handle("GET", "/todos");
      equal(response.status, 200);
      deepEqual(response.headers, { "content-type": "application/json; charset=utf-8", "content-length": String(response.body.byteLength) });
      equal(
        text(response),
        '[{"id":1,"title":"Walk the dog","dueBy":null,"isComplete":false},' +
          '{"id":2,"title":"Do the dishes","dueBy":"2026-01-31","isComplete":false},' +
          '{"id":3,"title":"Do the laundry","dueBy":"2026-02-01","isComplete":false},' +
          '{"id":4,"title":"Clean the bathroom","dueBy":null,"isComplete":false},' +
          '{"id":5,"title":"Clean the car","dueBy":"2026-02-02","isComplete":false}]',
      );
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  test("GET /todos/{id}: 200 todo, 404 unknown, 400 unbindable; all empty bodies carry content-length 0", () => {
    const app = production();
    const now = new Date("2026-01-31T12:00:00Z");
    for (const todo of sampleTodos(now)) equal(text(app.handle("GET", `/todos/${todo.id}`)), JSON.stringify(todo));
    for (const id of ["0", "6", "-1", "2147483647"]) {
      const response = app.handle("GET", `/todos/${id}`);
      equal(response.status, 404, id);
      deepEqual(response.headers, { "content-length": "0" });
      equal(response.body.byteLength, 0);
    }
    for (const id of ["x", "1.5", "2147483648", "%20"]) {
      const response = app.handle("GET", `/todos/${id}`);
      equal(response.status, 400, id);
      deepEqual(response.headers, { "content-length": "0" });
    }
  });

  test("routing: case-insensitive literals, trailing slash, unknown paths 404, wrong method 405", () => {
    const app = production();
    equal(app.handle("GET", "/TODOS/").status, 200);
    equal(app.handle("GET", "/Todos/3/").status, 200);
    equal(app.handle("GET", "/todos/1/2").status, 404);
    equal(app.handle("GET", "/").status, 404);
    equal(app.handle("POST", "/nope").status, 404);
    const post = app.handle("POST", "/todos");
    equal(post.status, 405);
    equal(post.headers.allow, "GET, HEAD");
    equal(app.handle("DELETE", "/todos/abc").status, 405, "the method is checked before binding");
  });

  test("HEAD: GET's status and headers, no body", () => {
    const app = production();
    const get = app.handle("GET", "/todos");
    const head = app.handle("HEAD", "/todos");
    equal(head.status, 200);
    deepEqual(head.headers, get.headers);
    equal(head.body.byteLength, 0);
  });

  test("/healthz answers Healthy in every environment", () => {
    const response = production().handle("GET", "/healthz");
    equal(response.status, 200);
    equal(response.headers["content-type"], "text/plain");
    equal(text(response), "Healthy");
  });

  test("OpenAPI document only in Development (any case)", () => {
    equal(production().handle("GET", "/openapi/v1.json").status, 404);
    equal(createTodoApp({ environment: "Staging" }).handle("GET", "/openapi/v1.json").status, 404);
    const response = createTodoApp({ environment: "development" }).handle("GET", "/openapi/v1.json");
    equal(response.status, 200);
    equal(response.headers["content-type"], "application/json; charset=utf-8");
    deepEqual(JSON.parse(text(response)), openApiDocument);
  });

  test("dates follow the clock: a server running past midnight moves to the new day", () => {
    let instant = new Date(2026, 0, 31, 23, 59, 59); // local time, whatever TZ is
    const app = createTodoApp({ now: () => instant });
    equal(JSON.parse(text(app.handle("GET", "/todos/2"))).dueBy, localDate(instant));
    instant = new Date(2026, 1, 1, 0, 0, 1);
    equal(JSON.parse(text(app.handle("GET", "/todos/2"))).dueBy, "2026-02-01");
    equal(JSON.parse(text(app.handle("GET", "/todos/5"))).dueBy, "2026-02-03");
  });
});
