/** The Todo API on Hono's router, for the framework comparison (bench only). */
import { Hono } from "hono";
import { JSON_CONTENT_TYPE, parseInt32 } from "../src/app.ts";
import { todoBodies } from "./todo-bodies.ts";

export const honoApp = new Hono();
const json = { "content-type": JSON_CONTENT_TYPE };

honoApp.get("/todos", (c) => c.body(todoBodies(new Date()).list, 200, json));
honoApp.get("/todos/:id", (c) => {
  const id = parseInt32(c.req.param("id"));
  if (id === undefined) return c.body(null, 400);
  const body = todoBodies(new Date()).byId.get(id);
  return body === undefined ? c.body(null, 404) : c.body(body, 200, json);
});
honoApp.get("/healthz", (c) => c.text("Healthy"));
