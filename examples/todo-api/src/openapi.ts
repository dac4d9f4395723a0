/**
 * The OpenAPI document ASP.NET's `AddOpenApi()` + `MapOpenApi()` generate for the post's app,
 * written as code: a single-file compile must see everything, so nothing is read from disk at
 * runtime. Served at GET /openapi/v1.json in the Development environment only.
 */
const todoRef = { $ref: "#/components/schemas/Todo" } as const;

export const openApiDocument = {
  openapi: "3.1.1",
  info: { title: "todo-api | v1", version: "1.0.0" },
  paths: {
    "/todos": {
      get: {
        tags: ["todo-api"],
        operationId: "GetTodos",
        responses: {
          "200": {
            description: "OK",
            content: { "application/json": { schema: { type: "array", items: todoRef } } },
          },
        },
      },
    },
    "/todos/{id}": {
      get: {
        tags: ["todo-api"],
        operationId: "GetTodoById",
        parameters: [
          { name: "id", in: "path", required: true, schema: { type: "integer", format: "int32" } },
        ],
        responses: {
          "200": { description: "OK", content: { "application/json": { schema: todoRef } } },
          "400": { description: "Bad Request" },
          "404": { description: "Not Found" },
        },
      },
    },
  },
  components: {
    schemas: {
      Todo: {
        type: "object",
        // ASP.NET lists only id and title (constructor parameters without defaults); this
        // server always writes all four keys, so all four are required.
        required: ["id", "title", "dueBy", "isComplete"],
        properties: {
          id: { type: "integer", format: "int32" },
          title: { type: ["null", "string"] },
          dueBy: { type: ["null", "string"], format: "date" },
          isComplete: { type: "boolean", default: false },
        },
      },
    },
  },
  tags: [{ name: "todo-api" }],
};

/** Indented like ASP.NET's output; serialized once at startup. */
export const openApiDocumentJson = JSON.stringify(openApiDocument, null, 2);
