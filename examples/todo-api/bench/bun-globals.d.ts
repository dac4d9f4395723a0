/** Just enough of Bun's global for the Bun-only variants; the repo's tsconfig types only node. */
declare const Bun: {
  serve(options: {
    port: number;
    hostname: string;
    fetch: (request: Request) => Response | Promise<Response>;
  }): { port: number; stop(closeActiveConnections?: boolean): void };
};
