// What `bun init` writes ("module": "index.ts"), with bun:sqlite (built into the Bun runtime) and Hono.
import { Database } from "bun:sqlite";
import { Hono } from "hono";

const db = new Database(":memory:");
db.run("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)");
db.run("INSERT INTO notes (text) VALUES (?)", ["compiled ahead of time"]);

const app = new Hono();
app.get("/notes", (c) => c.json(db.query("SELECT id, text FROM notes ORDER BY id").all()));
app.post("/notes", (c) => {
  db.run("INSERT INTO notes (text) VALUES (?)", [`note ${Date.now()}`]);
  return c.json({ ok: true }, 201);
});

const server = Bun.serve({ port: Number(process.env.PORT ?? 3000), fetch: app.fetch });
process.on("SIGTERM", () => {
  server.stop();
  process.exit(0);
});
