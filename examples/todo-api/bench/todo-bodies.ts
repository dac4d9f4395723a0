/** The same per-day cached bodies the thin router uses, for the framework variants. */
import { localDate, sampleTodos } from "../src/app.ts";

let cached: { today: string; list: string; byId: Map<number, string> } | undefined;

export function todoBodies(now: Date): { list: string; byId: Map<number, string> } {
  const today = localDate(now);
  if (cached === undefined || cached.today !== today) {
    const todos = sampleTodos(now);
    cached = { today, list: JSON.stringify(todos), byId: new Map(todos.map((todo) => [todo.id, JSON.stringify(todo)])) };
  }
  return cached;
}
