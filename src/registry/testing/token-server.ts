/**
 * A minimal token server for tests (distribution's `auth: token` spec): checks Basic
 * credentials, grants what is asked to known users, signs an RS256 JWT whose `x5c`
 * carries a self-signed cert that the registry trusts via `rootcertbundle`.
 * Key and cert are made with openssl at start, in a temp dir removed by stop().
 */
import { execFileSync } from "node:child_process";
import { createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** PEM cert to list as the registry's `rootcertbundle`. */
  certPath: string;
  /** Every token request seen: the scopes asked and whether credentials were accepted. */
  requests: Array<{ scopes: string[]; user: string | undefined }>;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

export async function startTokenServer(options: { users: Record<string, string>; service?: string; issuer?: string; expiresIn?: number }): Promise<TokenServer> {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-token-"));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=aotpack-test-token-issuer"], { stdio: "ignore" });
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = new X509Certificate(await readFile(certPath)).raw;
  const service = options.service ?? "aotpack-test-registry";
  const issuer = options.issuer ?? "aotpack-test-issuer";
  const requests: TokenServer["requests"] = [];

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    const auth = req.headers.authorization;
    let user: string | undefined;
    if (auth?.startsWith("Basic ")) {
      const decoded = Buffer.from(auth.slice(6), "base64").toString("utf8");
      const i = decoded.indexOf(":");
      const name = decoded.slice(0, i);
      if (i <= 0 || options.users[name] !== decoded.slice(i + 1)) {
        requests.push({ scopes: url.searchParams.getAll("scope"), user: undefined });
        res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] }));
        return;
      }
      user = name;
    }
    const scopes = url.searchParams.getAll("scope");
    requests.push({ scopes, user });
    // Anonymous users get a token with no access, as real token servers do.
    const access = user
      ? scopes.flatMap((s) => s.split(" ")).map((s) => {
          const [type, ...rest] = s.split(":");
          const actions = rest.pop() ?? "";
          return { type, name: rest.join(":"), actions: actions.split(",").filter((a) => a) };
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "RS256", typ: "JWT", x5c: [certDer.toString("base64")] };
    const claims = { iss: issuer, sub: user ?? "", aud: url.searchParams.get("service") ?? service, exp: now + (options.expiresIn ?? 300), nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(signingInput), key);
    const token = `${signingInput}.${b64url(signature)}`;
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token, access_token: token, expires_in: options.expiresIn ?? 300, issued_at: new Date().toISOString() }));
  };

  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    requests,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
