/**
 * Port forwarding from the host's loopback into a network namespace, without veth pairs
 * or iptables: a filesystem Unix socket is reachable from every network namespace, so a
 * small relay entered into the namespace (`nsenter --net`) listens on one and connects
 * to the app's port there, and the host side relays 127.0.0.1:HOSTPORT to that socket.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect, type Socket } from "node:net";
import { AotpackError } from "../errors.ts";

/** Runs inside the namespace (as plain JS under this Node binary): unix socket → 127.0.0.1:port (or ::1). */
const IN_NAMESPACE_RELAY = `
const net = require("node:net");
const [sock, port] = process.argv.slice(1);
const server = net.createServer((client) => {
  client.pause();
  const tryConnect = (hosts) => {
    const upstream = net.connect(Number(port), hosts[0]);
    upstream.once("connect", () => { client.pipe(upstream); upstream.pipe(client); client.resume(); });
    upstream.once("error", () => { upstream.destroy(); if (hosts.length > 1) tryConnect(hosts.slice(1)); else client.destroy(); });
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  };
  client.on("error", () => {});
  tryConnect(["127.0.0.1", "::1"]);
});
server.listen(sock, () => process.stdout.write("ready\\n"));
// Our parent holds stdin open; when it goes away, so do we.
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
`;

export interface Relay {
  hostPort: number;
  close(): Promise<void>;
}

/** Listen on 127.0.0.1:hostPort (0 picks one) and forward each connection to `connectTo()`. */
export async function startHostRelay(hostPort: number, connectTo: () => Socket): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    const upstream = connectTo();
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", done).on("close", done);
    upstream.on("error", done).on("close", done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new AotpackError(`cannot listen on 127.0.0.1:${hostPort}: ${err.code === "EADDRINUSE" ? "the port is in use" : err.message}`)),
    );
    server.listen(hostPort, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  return {
    hostPort: typeof address === "object" && address ? address.port : hostPort,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy(); // close() alone waits for open connections
      }),
  };
}

/** Forward host 127.0.0.1:hostPort to 127.0.0.1:containerPort inside the network namespace of `namespacePid`. */
export async function startNamespaceRelay(options: {
  namespacePid: number;
  /** Enter the namespace's user namespace first (rootless runs own their network namespace through it). */
  enterUserNamespace?: boolean;
  hostPort: number;
  containerPort: number;
  socketPath: string;
  timeoutMs?: number;
}): Promise<Relay> {
  const child: ChildProcess = spawn(
    "nsenter",
    [
      ...(options.enterUserNamespace ? [`--user=/proc/${options.namespacePid}/ns/user`, "--preserve-credentials"] : []),
      `--net=/proc/${options.namespacePid}/ns/net`,
      ...["--", process.execPath, "-e", IN_NAMESPACE_RELAY, options.socketPath, String(options.containerPort)],
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const killChild = (): void => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new AotpackError("the port relay into the network namespace did not start in time")), options.timeoutMs ?? 10_000);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(new AotpackError(`cannot start the port relay (nsenter): ${err.message}`, { hint: "install util-linux" }));
      });
      child.once("exit", () => {
        clearTimeout(timer);
        reject(new AotpackError(`the port relay into the network namespace exited: ${stderr.trim().split("\n").pop() ?? ""}`));
      });
      child.stdout?.once("data", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (err) {
    killChild();
    throw err;
  }
  let host: Relay;
  try {
    host = await startHostRelay(options.hostPort, () => connect(options.socketPath));
  } catch (err) {
    killChild();
    throw err;
  }
  return {
    hostPort: host.hostPort,
    async close() {
      await host.close();
      killChild();
    },
  };
}

/** Host-network mode with a different host port: plain TCP relay on the loopback. */
export async function startLoopbackRelay(hostPort: number, containerPort: number): Promise<Relay> {
  return startHostRelay(hostPort, () => connect(containerPort, "127.0.0.1"));
}
