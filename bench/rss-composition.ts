/**
 * Where a synced cache's resident memory lies, and how it moves with the process's environment
 * (for instance glibc's malloc tunables): seeds one server, then runs the cache child
 * (bench/ts-cache-measure.ts) once per projection and environment variant, in alternating order,
 * and prints each run's memory map after sync (bench/memory-map.ts) in MiB.
 *
 *   npx tsx bench/rss-composition.ts [--sessions 100000] [--runs 2] [--projection lean|full]...
 *        [--env NAME=VALUE[,NAME=VALUE]]...      (a variant; the default environment always runs)
 *        [--json PATH]
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { newBenchSecret, SECRET_ENV } from "./bench-secret.js";
import { pomeriumBinaryPresent, startBenchServer } from "./bench-server.js";
import { cacheChildArgs } from "./cache-child-args.js";
import { runChildForJson } from "./child-process-json.js";
import { seedBenchServer } from "./seed-bench-server.js";
import { median } from "./stats.js";
import type { TsRunResult } from "./ts-cache-measure.js";

const MIB = 2 ** 20;

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "100000" },
    runs: { type: "string", default: "2" },
    projection: { type: "string", multiple: true },
    env: { type: "string", multiple: true },
    json: { type: "string" },
  },
});
const sessions = Number(values.sessions);
const users = Math.floor(sessions / 10);
const runs = Number(values.runs);
if (!(sessions >= 10_000) || !(runs >= 1)) throw new Error("--sessions must be at least 10000 and --runs at least 1");
const projections = (values.projection ?? ["lean", "full"]) as ("lean" | "full")[];
for (const p of projections) if (p !== "lean" && p !== "full") throw new Error("--projection must be lean or full");
const variants: { name: string; env: Record<string, string> }[] = [{ name: "default", env: {} }];
for (const spec of values.env ?? []) {
  const env: Record<string, string> = {};
  for (const pair of spec.split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`--env takes NAME=VALUE pairs separated by commas, got "${spec}"`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  variants.push({ name: spec, env });
}

const log = (line: string) => process.stderr.write(`[rss] ${line}\n`);
const secret = newBenchSecret();
const server = await startBenchServer(pomeriumBinaryPresent() ? "pomerium" : "in-memory", secret);
const results: { variant: string; projection: string; run: number; readyMs: number; maxLoopStallMs: number; rssBytes: number; memoryMap: TsRunResult["memoryMap"] }[] = [];
try {
  await seedBenchServer(server.url, secret, sessions, users);
  log(`seeded ${sessions} sessions + ${users} users on ${server.description}`);
  for (let run = 1; run <= runs; run++) {
    // Alternate the order, so that no variant always runs first (or right after another).
    const order = run % 2 === 1 ? variants : [...variants].reverse();
    for (const projection of projections) {
      for (const variant of order) {
        const r = await runChildForJson<TsRunResult>({
          command: process.execPath,
          args: cacheChildArgs({ url: server.url, sessions, users, propCount: 0, runTag: `rss-${run}`, projection }),
          env: { ...process.env, ...variant.env, [SECRET_ENV]: secret },
          resultKey: "readyMs",
        });
        results.push({ variant: variant.name, projection, run, readyMs: r.readyMs, maxLoopStallMs: r.maxLoopStallMs, rssBytes: r.rssBytes, memoryMap: r.memoryMap });
        const m = r.memoryMap;
        log(`run ${run} ${projection} ${variant.name}: ready ${(r.readyMs / 1000).toFixed(2)} s, stall ${r.maxLoopStallMs.toFixed(1)} ms, RSS ${(r.rssBytes / MIB).toFixed(0)} MiB` + (m === undefined ? "" : `, [heap] ${(m.mallocHeapBytes / MIB).toFixed(0)}, anon ${(m.anonymousBytes / MIB).toFixed(0)}, file ${(m.fileBytes / MIB).toFixed(0)}, V8 committed ${(m.v8CommittedBytes / MIB).toFixed(0)}, slabs ${(m.slabBytes / MIB).toFixed(0)}, array buffers ${(m.arrayBuffersBytes / MIB).toFixed(0)}`));
      }
    }
  }
} finally {
  await server.stop();
}

const rows = ["| projection | environment | ready (s) | RSS | [heap] | anonymous | file-backed | V8 committed | slabs | array buffers |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"];
for (const projection of projections) {
  for (const variant of variants) {
    const mine = results.filter((r) => r.projection === projection && r.variant === variant.name);
    const m = (f: (map: NonNullable<TsRunResult["memoryMap"]>) => number) => {
      const xs = mine.flatMap((r) => (r.memoryMap === undefined ? [] : [f(r.memoryMap)]));
      return xs.length === 0 ? "–" : (median(xs) / MIB).toFixed(0);
    };
    rows.push(`| ${projection} | ${variant.name} | ${(median(mine.map((r) => r.readyMs)) / 1000).toFixed(2)} | ${(median(mine.map((r) => r.rssBytes)) / MIB).toFixed(0)} | ${m((x) => x.mallocHeapBytes)} | ${m((x) => x.anonymousBytes)} | ${m((x) => x.fileBytes)} | ${m((x) => x.v8CommittedBytes)} | ${m((x) => x.slabBytes)} | ${m((x) => x.arrayBuffersBytes)} |`);
  }
}
process.stdout.write(`${sessions.toLocaleString("en")} sessions + ${users.toLocaleString("en")} users, medians of ${runs} runs, MiB after sync and a full collection:\n\n${rows.join("\n")}\n`);
if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify({ date: new Date().toISOString(), sessions, users, runs, server: server.description, results }, null, 2)}\n`);
