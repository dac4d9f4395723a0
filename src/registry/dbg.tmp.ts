import { startRegistry } from "../../test/support/registry.ts";
import { startFaultProxy } from "./testing/fault-proxy.ts";
import { twoPlatformIndex } from "./testing/fixtures.ts";
import { push } from "./publisher.ts";
import { pull } from "./remote.ts";
import { mkdtemp, rm } from "node:fs/promises"; import { tmpdir } from "node:os"; import { join } from "node:path";
const registry = await startRegistry();
const proxy = await startFaultProxy(registry.port, { retryAfterSeconds: 0 });
const dir = await mkdtemp(join(tmpdir(), "dbg-"));
const t0 = Date.now();
const orig = proxy.requests.push.bind(proxy.requests);
proxy.requests.push = (...r) => { console.log(Date.now()-t0, r[0].method, r[0].path.slice(0,60), r[0].fault); return orig(...r); };
try {
  const after = await twoPlatformIndex(join(dir, "after"), { seed: "after" , layerBytes: 400_000});
  await push(after, `${registry.host}/f/app:stable`, { credentials: null });
  proxy.failEachOnce("cut");
  await pull(`${proxy.host}/f/app:stable`, { credentials: null, blobDir: join(dir, "c"), retry: { retries: 6, baseDelayMs: 1, maxDelayMs: 5 } }).catch(e => console.log(Date.now()-t0, "ERR", e));
} finally { await proxy.stop(); await registry.stop(); await rm(dir, { recursive: true, force: true }); }
