/**
 * Pomerium's clustered databroker (3 nodes of the Go peer, memory storage) under a cache given
 * every node's URL:
 *
 * 1. leader death to caught-up replica: SIGKILL the leader, time until the cache equals the new
 *    leader's SyncLatest; p50 and max over `--kills` kills (every node caught up before each, the
 *    old leader restarted after);
 * 2. records transferred per failover: SyncLatest calls the cache made in that window
 *    (`databroker.syncer.sync_latest.total`) times the records a SyncLatest carries (all of
 *    them), and the records it applied to the replica (`update_records.total`: only content
 *    differences, the rest is recognised as unchanged);
 * 3. the leader's load with `--caches` caches in default mode vs local mode: the leader
 *    process's CPU time (/proc) while a writer puts `--writes` sessions and every cache follows.
 *
 * Prints a summary and one JSON line; `--out FILE` also writes the JSON. Linux only (/proc).
 *   npx tsx bench/cluster-failover.ts --kills 10 --sessions 500 --caches 6 --writes 1000
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createDatabrokerCache, SESSION_TYPE, type DatabrokerCache } from "../src/index.js";
import { CountingMeter, session } from "../test/faults/fault-fixtures.js";
import { differences, serverSnapshot } from "../test/faults/replica-equals-server.js";
import { startPomeriumCluster } from "../test/support/pomerium-cluster.js";
import { leaderSnapshot, untilCaughtUp } from "../test/support/pomerium-cluster-waits.js";
import { untilAsync } from "../test/support/wait-until.js";
import { percentile } from "./stats.js";

const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "10" },
    sessions: { type: "string", default: "500" },
    caches: { type: "string", default: "6" },
    writes: { type: "string", default: "1000" },
    out: { type: "string" },
  },
});
const kills = Number(values.kills);
const sessions = Number(values.sessions);
const cacheCount = Number(values.caches);
const writes = Number(values.writes);
const secret = randomBytes(32).toString("base64");
const RETRY = { initialDelayMs: 100, maxDelayMs: 1000, maxReconnectDelayMs: 400 };

function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  // Fields after the command name: utime and stime are the 12th and 13th (clock ticks, 100 Hz).
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const cluster = await startPomeriumCluster({ nodes: 3, storage: "memory", sharedSecret: secret, name: "bench" });
try {
  const leader0 = await cluster.leader(60_000);
  for (let i = 0; i < sessions; i += 100) {
    await cluster.client(leader0).put({ records: Array.from({ length: Math.min(100, sessions - i) }, (_, k) => session(`s-${i + k}`, `u-${(i + k) % 50}`)) });
  }

  // 1 and 2: failover.
  const meter = new CountingMeter();
  const cache = createDatabrokerCache({ urls: cluster.urls, sharedSecret: secret, types: [SESSION_TYPE], retry: RETRY, connectTimeoutMs: 1000, meter: meter.meter, cluster: {} });
  await cache.ready({ timeoutMs: 60_000 });
  const failoverMs: number[] = [];
  const transferred: number[] = [];
  const appliedPerFailover: number[] = [];
  for (let k = 0; k < kills; k++) {
    await untilCaughtUp(cluster, 60_000);
    const old = await cluster.leader(60_000);
    const applied = meter.total("databroker.syncer.update_records.total");
    const snapshots = meter.total("databroker.syncer.sync_latest.total");
    const t0 = performance.now();
    await cluster.kill(old);
    // Caught up: on the new leader's server version (a follower's copy can carry the very same
    // record versions, so equal records alone do not show the cache has moved) and equal to it.
    await untilAsync(
      async () => {
        const leader = await cluster.leader(60_000);
        if (leader === old) return false;
        // The node's own server version (its checkpoint still names the old leader's for a moment).
        const sv = (await cluster.client(leader, "local").serverInfo({}).catch(() => undefined))?.serverVersion;
        return cache.state.streams[0]?.serverVersion === sv && differences(cache, SESSION_TYPE, await leaderSnapshot(cluster, secret)).length === 0;
      },
      "cache equals the new leader",
      60_000,
    );
    failoverMs.push(performance.now() - t0);
    transferred.push((meter.total("databroker.syncer.sync_latest.total") - snapshots) * sessions);
    appliedPerFailover.push(meter.total("databroker.syncer.update_records.total") - applied);
    await cluster.restart(old);
    process.stderr.write(`kill ${k + 1}/${kills}: ${Math.round(failoverMs.at(-1)!)} ms, ${transferred.at(-1)} records transferred, ${appliedPerFailover.at(-1)} applied\n`);
  }
  await cache.close();

  // 3: leader load, default vs local mode.
  const load = async (mode: "default" | "local") => {
    await untilCaughtUp(cluster, 60_000);
    const leader = await cluster.leader(60_000);
    const caches: DatabrokerCache[] = [];
    for (let i = 0; i < cacheCount; i++) {
      // Spread the caches over the nodes: each lists a different node first ("nearest").
      const urls = cluster.urls.map((_, j) => cluster.urls[(i + j) % cluster.urls.length]!);
      caches.push(createDatabrokerCache({ urls, sharedSecret: secret, types: [SESSION_TYPE], retry: RETRY, cluster: { syncMode: mode } }));
    }
    await Promise.all(caches.map((c) => c.ready({ timeoutMs: 60_000 })));
    const pid = cluster.node(leader).instance?.pid;
    const before = cpuMs(pid);
    const t0 = performance.now();
    const writer = cluster.client(leader);
    for (let i = 0; i < writes; i += 10) {
      await writer.put({ records: Array.from({ length: 10 }, (_, k) => session(`w-${mode}-${i + k}`, "u-w")) });
    }
    const last = `w-${mode}-${writes - 1}`;
    await untilAsync(async () => caches.every((c) => c.get(SESSION_TYPE, last) !== undefined), "every cache has the last write", 60_000);
    const result = { mode, caches: cacheCount, writes, leaderCpuMs: cpuMs(pid) - before, wallMs: Math.round(performance.now() - t0) };
    await Promise.all(caches.map((c) => c.close()));
    return result;
  };
  const loads = [await load("default"), await load("local")];

  const result = {
    pomerium: "v0.32.9 (3 nodes, memory storage, Raft defaults)",
    sessions,
    kills,
    failoverMs: { p50: Math.round(percentile(failoverMs, 50)), max: Math.round(Math.max(...failoverMs)), all: failoverMs.map(Math.round) },
    recordsPerFailover: { p50: percentile(transferred, 50), max: Math.max(...transferred), all: transferred },
    recordsAppliedPerFailover: { p50: percentile(appliedPerFailover, 50), max: Math.max(...appliedPerFailover), all: appliedPerFailover },
    leaderLoad: loads,
  };
  console.log(`leader death -> caught-up replica: p50 ${result.failoverMs.p50} ms, max ${result.failoverMs.max} ms over ${kills} kills`);
  console.log(`records transferred per failover: p50 ${result.recordsPerFailover.p50}, max ${result.recordsPerFailover.max} (${sessions} sessions held); applied to the replica: p50 ${result.recordsAppliedPerFailover.p50}, max ${result.recordsAppliedPerFailover.max}`);
  for (const l of loads) console.log(`leader CPU, ${l.caches} caches in ${l.mode} mode, ${l.writes} writes: ${l.leaderCpuMs} ms (${l.wallMs} ms wall)`);
  console.log(JSON.stringify(result));
  if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await cluster.close();
}
