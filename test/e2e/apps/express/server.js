// Express 5 as `npm init` + a tutorial lays it out: main says index.js, scripts.start runs server.js.
const express = require("express");

const app = express();
const todos = [{ id: 1, title: "Walk the dog" }, { id: 2, title: "Do the dishes" }];
app.get("/todos", (_req, res) => res.json(todos));
app.get("/todos/:id", (req, res) => {
  const todo = todos.find((t) => t.id === Number(req.params.id));
  if (!todo) return res.status(404).json({ error: "not found" });
  res.json(todo);
});
app.get("/healthz", (_req, res) => res.send("ok"));

const server = app.listen(Number(process.env.PORT ?? 3000), () => console.log(`listening on ${server.address().port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
