/** Variant "node:http everywhere": the example's node:http host, also under Bun (bench only). */
import { createTodoApp } from "../src/app.ts";
import { startNodeHost } from "../src/node-host.ts";

void startNodeHost({
  app: createTodoApp(),
  port: Number(process.env.PORT ?? 8080),
  hostname: "::",
  isShuttingDown: () => false,
  onHandlerError: (method, target, error) => console.error(method, target, error),
}).then((host) => console.log(`Now listening on: http://[::]:${host.port}`));
