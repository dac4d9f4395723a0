/**
 * The post's `webapiaot` Todo API as a pure function from (method, request-target) to a
 * response: no sockets, no globals, no clock of its own. `server.ts` wires it to node:http,
 * which both Bun and Node implement, so one code path serves under both runtimes.
 *
 * Routing mirrors ASP.NET Core endpoint routing: literal segments match case-insensitively,
 * one trailing slash is ignored, route values are percent-decoded per segment, a path that
 * matches with the wrong method is 405 (with `Allow`), anything else is 404 with no body.
 */
import { openApiDocumentJson } from "./openapi.ts";

/** Same shape and key order as the post's `record Todo(int Id, string? Title, DateOnly? DueBy, bool IsComplete)`. */
export interface Todo {
  id: number;
  title: string;
  dueBy: string | null;
  isComplete: boolean;
}

export interface AppResponse {
  status: number;
  headers: Record<string, string>;
  /** Empty for HEAD and for every status without a body. */
  body: Uint8Array;
}

export interface TodoAppOptions {
  /** The clock; dates are taken from it in the process's local time zone (TZ). */
  now?: () => Date;
  /** ASP.NET-style environment name; "Development" (any case) serves the OpenAPI document. */
  environment?: string;
}

export interface TodoApp {
  readonly isDevelopment: boolean;
  handle(method: string, target: string): AppResponse;
}

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";
/** What ASP.NET's health-check endpoint answers for a healthy app. */
export const HEALTH_BODY = "Healthy";
const ALLOWED_METHODS = "GET, HEAD";
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/** `yyyy-MM-dd` of `instant` in local time, plus `addDays` calendar days (DST-proof, like DateOnly arithmetic). */
export function localDate(instant: Date, addDays = 0): string {
  // Calendar arithmetic in UTC on the local Y/M/D, so a 23- or 25-hour day can't skip or repeat a date.
  const day = new Date(Date.UTC(instant.getFullYear(), instant.getMonth(), instant.getDate() + addDays));
  const year = String(day.getUTCFullYear()).padStart(4, "0");
  const month = String(day.getUTCMonth() + 1).padStart(2, "0");
  const date = String(day.getUTCDate()).padStart(2, "0");
  return `${year}-${month}-${date}`;
}

/** The post's five sample todos for the given instant. */
export function sampleTodos(now: Date): Todo[] {
  return [
    { id: 1, title: "Walk the dog", dueBy: null, isComplete: false },
    { id: 2, title: "Do the dishes", dueBy: localDate(now, 0), isComplete: false },
    { id: 3, title: "Do the laundry", dueBy: localDate(now, 1), isComplete: false },
    { id: 4, title: "Clean the bathroom", dueBy: null, isComplete: false },
    { id: 5, title: "Clean the car", dueBy: localDate(now, 2), isComplete: false },
  ];
}

/**
 * `int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture)`, which is how ASP.NET
 * binds an `int` route value: optional ASCII white space around an optional sign and ASCII digits;
 * anything else, or a value outside int32, fails (and the endpoint answers 400).
 */
export function parseInt32(text: string): number | undefined {
  const match = /^[\t\n\v\f\r ]*([+-]?)([0-9]+)[\t\n\v\f\r ]*$/.exec(text);
  if (!match) return undefined;
  const digits = (match[2] ?? "").replace(/^0+(?=\d)/, "");
  // More than 10 significant digits is out of range; checking first keeps Number() exact.
  if (digits.length > 10) return undefined;
  const value = Number(digits) * (match[1] === "-" ? -1 : 1);
  if (value < INT32_MIN || value > INT32_MAX) return undefined;
  return value === 0 ? 0 : value; // no -0
}

/** Path segments of a request-target, without query, percent-decoded one by one (so %2F stays inside a segment). */
export function pathSegments(target: string): string[] {
  let path = target;
  if (!path.startsWith("/")) {
    // absolute-form ("GET http://host/todos HTTP/1.1") or garbage
    try {
      path = new URL(path).pathname;
    } catch {
      return ["\0invalid"];
    }
  }
  const queryAt = path.search(/[?#]/);
  if (queryAt >= 0) path = path.slice(0, queryAt);
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return path
    .slice(1)
    .split("/")
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment; // Kestrel leaves malformed escapes as they are
      }
    });
}

function empty(status: number, headers: Record<string, string> = {}): AppResponse {
  return { status, headers: { ...headers, "content-length": "0" }, body: EMPTY };
}

function content(method: string, contentType: string, body: Uint8Array): AppResponse {
  return {
    status: 200,
    headers: { "content-type": contentType, "content-length": String(body.byteLength) },
    body: method === "HEAD" ? EMPTY : body,
  };
}

/** Serialized bodies for one local date; rebuilt only when the date changes. */
interface DayBodies {
  today: string;
  list: Uint8Array;
  byId: Map<number, Uint8Array>;
}

function bodiesFor(now: Date): DayBodies {
  const todos = sampleTodos(now);
  // JSON.stringify keeps declaration order and emits the same compact text as System.Text.Json.
  return {
    today: localDate(now),
    list: encoder.encode(JSON.stringify(todos)),
    byId: new Map(todos.map((todo) => [todo.id, encoder.encode(JSON.stringify(todo))])),
  };
}

export function isDevelopmentEnvironment(environment: string): boolean {
  return environment.toLowerCase() === "development";
}

export function createTodoApp(options: TodoAppOptions = {}): TodoApp {
  const now = options.now ?? (() => new Date());
  const isDevelopment = isDevelopmentEnvironment(options.environment ?? "Production");
  const healthBody = encoder.encode(HEALTH_BODY);
  const openApiBody = encoder.encode(openApiDocumentJson);
  let cached: DayBodies | undefined;

  // Dates follow the clock per request (the post computes them once at startup; see README).
  function currentBodies(): DayBodies {
    const instant = now();
    if (cached === undefined || cached.today !== localDate(instant)) cached = bodiesFor(instant);
    return cached;
  }

  function route(method: string, segments: string[]): AppResponse {
    const readable = method === "GET" || method === "HEAD";
    const first = segments[0]?.toLowerCase();
    if (segments.length === 1 && first === "todos") {
      return readable ? content(method, JSON_CONTENT_TYPE, currentBodies().list) : empty(405, { allow: ALLOWED_METHODS });
    }
    if (segments.length === 2 && first === "todos") {
      if (!readable) return empty(405, { allow: ALLOWED_METHODS });
      const id = parseInt32(segments[1] ?? "");
      // ASP.NET's failed `int id` binding is a BadHttpRequestException: 400, empty body in Production.
      if (id === undefined) return empty(400);
      const body = currentBodies().byId.get(id);
      return body === undefined ? empty(404) : content(method, JSON_CONTENT_TYPE, body);
    }
    if (segments.length === 1 && first === "healthz") {
      return readable ? content(method, "text/plain", healthBody) : empty(405, { allow: ALLOWED_METHODS });
    }
    if (
      isDevelopment &&
      segments.length === 2 &&
      first === "openapi" &&
      segments[1]?.toLowerCase() === "v1.json"
    ) {
      return readable ? content(method, JSON_CONTENT_TYPE, openApiBody) : empty(405, { allow: ALLOWED_METHODS });
    }
    return empty(404);
  }

  return {
    isDevelopment,
    handle(method: string, target: string): AppResponse {
      return route(method.toUpperCase(), pathSegments(target));
    },
  };
}
