/** `aotpack cache ls|prune|verify`. */
import { UsageError } from "../../errors.ts";
import { cacheRoot } from "../../cache.ts";
import { bySection, listCache, parseAge, parseSize, pruneCache, verifyCache } from "../../cache-admin.ts";
import { GLOBAL, parse } from "../options.ts";
import { formatBytes } from "../progress.ts";
import type { Command, CommandContext } from "../command.ts";

const CACHE_FLAGS = { ...GLOBAL, "older-than": { type: "string" }, "max-size": { type: "string" } } as const;

const CACHE_HELP = `Usage: aotpack cache ls|prune|verify [options]

The cache holds compiled artifacts, layer blobs, Debian packages and runtimes. It lives in
$AOTPACK_CACHE_DIR, else $XDG_CACHE_HOME/aotpack, else ~/.cache/aotpack. Every entry is
re-hashed when a build uses it; a bad one is dropped and rebuilt. After a build that added to
it, the cache is cut to $AOTPACK_CACHE_MAX_SIZE (default 3GiB; off: never), least recently
used first, keeping what that build (or any in the last 10 minutes) used.

  ls                     where the cache is, and its size per section
  prune                  remove entries (least recently used first):
    --older-than AGE       not used for AGE (30d, 12h, 90m, 2w)
    --max-size SIZE        until the cache is at most SIZE (2GB, 500MB, 5g)
  verify                 hash every entry; bad ones are removed and listed (exit 1 if any)
  --json                 print the result as JSON`;

async function runCache(argv: string[], ctx: CommandContext): Promise<number> {
  const { positionals, values } = parse(argv, CACHE_FLAGS);
  const [action, ...rest] = positionals;
  if (rest.length) throw new UsageError(`cache ${action} takes no arguments (got "${rest.join(" ")}")`);
  const root = cacheRoot();
  const out = (json: unknown, text: string): void => {
    ctx.io.stdout.write(ctx.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
  };
  if (action === "ls") {
    const entries = await listCache(root);
    const sections = bySection(entries);
    const total = entries.reduce((n, e) => n + e.bytes, 0);
    const lines = Object.entries(sections).map(([name, s]) => `  ${name.padEnd(10)} ${String(s.entries).padStart(6)} entries  ${formatBytes(s.bytes).padStart(10)}`);
    out({ root, totalBytes: total, sections }, [`cache: ${root}`, ...lines, `  total      ${String(entries.length).padStart(6)} entries  ${formatBytes(total).padStart(10)}`].join("\n"));
    return 0;
  }
  if (action === "prune") {
    const olderThan = values["older-than"];
    const maxSize = values["max-size"];
    if (olderThan === undefined && maxSize === undefined) throw new UsageError("cache prune needs --older-than AGE and/or --max-size SIZE", { hint: "e.g. aotpack cache prune --older-than 30d --max-size 5GB" });
    const olderThanMs = olderThan === undefined ? undefined : parseAge(olderThan);
    if (olderThan !== undefined && olderThanMs === undefined) throw new UsageError(`--older-than takes an age like 30d, 12h or 90m (got "${olderThan}")`);
    const maxBytes = maxSize === undefined ? undefined : parseSize(maxSize);
    if (maxSize !== undefined && maxBytes === undefined) throw new UsageError(`--max-size takes a size like 2GB or 500MB (got "${maxSize}")`);
    const removed = await pruneCache({ ...(olderThanMs !== undefined ? { olderThanMs } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}) }, root);
    const freed = removed.reduce((n, e) => n + e.bytes, 0);
    const left = (await listCache(root)).reduce((n, e) => n + e.bytes, 0);
    out({ root, removed: removed.length, freedBytes: freed, remainingBytes: left }, `cache: ${root}: removed ${removed.length} entries, freed ${formatBytes(freed)}; ${formatBytes(left)} left`);
    return 0;
  }
  if (action === "verify") {
    const { checked, problems } = await verifyCache(root);
    const text = [`cache: ${root}: checked ${checked} entries, ${problems.length} bad${problems.length ? " (removed; rebuilt when next needed)" : ""}`, ...problems.map((p) => `  ${p.path}: ${p.problem}`)].join("\n");
    out({ root, checked, ok: problems.length === 0, problems }, text);
    return problems.length ? 1 : 0;
  }
  throw new UsageError(action === undefined ? "cache needs an action: ls, prune or verify" : `unknown cache action "${action}"`, { hint: "aotpack cache ls | prune --older-than 30d --max-size 5GB | verify" });
}

export const cacheCommand: Command = { name: "cache", usage: "cache ls|prune|verify", summary: "where the cache lives and what it holds; evict by age/size; check every entry", flags: CACHE_FLAGS, help: () => CACHE_HELP, run: runCache };
