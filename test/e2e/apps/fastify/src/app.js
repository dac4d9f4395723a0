// Fastify's documented default: listen({ port }) binds localhost only (so the image needs /etc/hosts).
import Fastify from "fastify";

const app = Fastify({ logger: true });
app.get("/hello", async () => ({ hello: "world" }));

await app.listen({ port: Number(process.env.PORT ?? 3000) });
process.on("SIGTERM", () => app.close().then(() => process.exit(0)));
