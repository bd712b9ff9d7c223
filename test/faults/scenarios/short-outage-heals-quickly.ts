/**
 * Pomerium's databroker crashes (SIGKILL: the kernel resets every connection) and comes back on the
 * same port after OUTAGE_MS; STORAGE is "memory" (a new, empty server version) or "file" (same
 * directory: same server version and data). The cache runs with the DEFAULT retry policy, as in
 * production. Measured from "the restarted server is ready" to "the cache is fresh": every mirrored
 * type's stream live on the restarted server's version, and a record of each type written right
 * after the restart visible in the cache. It must be within HEAL_BOUND_MS.
 *
 * OUTAGE_HEAL_WAIT_MS (default HEAL_BOUND_MS + 5 s) is how long to keep measuring before giving
 * up: raise it to see how long a slow implementation really takes.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_CACHE_TYPES, SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../../../src/index.js";
import { allLive } from "../../support/cache-recorder.js";
import { startPomerium, type PomeriumStorage } from "../../support/pomerium-harness.js";
import { until } from "../../support/wait-until.js";
import { SECRET, recordedCache, serviceAccount, session, synced, user } from "../../sync/cache-sync-fixtures.js";
import { transportFromEnv, writer, type Cleanups } from "../fault-fixtures.js";

/**
 * After a connection failure a reconnect waits at most 5 s (the retry policy's bound for that case),
 * a stream ABORTED by the restarted server's new version resyncs at once, and a resync of these few
 * records takes well under a second: 5 s + resync + margin for a loaded test machine.
 */
export const HEAL_BOUND_MS = 8000;

/** How long to keep measuring after the restart before giving up (see the header). */
export function healWaitMs(): number {
  return Number(process.env["OUTAGE_HEAL_WAIT_MS"] ?? HEAL_BOUND_MS + 5000);
}

function parameters(): { storage: PomeriumStorage; outageMs: number; waitMs: number } {
  const storage = process.env["STORAGE"];
  const outageMs = Number(process.env["OUTAGE_MS"]);
  const waitMs = healWaitMs();
  if ((storage !== "memory" && storage !== "file") || !(outageMs > 0) || !(waitMs > 0)) {
    throw new Error(`want STORAGE=memory|file and OUTAGE_MS > 0, got STORAGE=${storage} OUTAGE_MS=${process.env["OUTAGE_MS"]}`);
  }
  return { storage, outageMs, waitMs };
}

/** The fault's duration: the server stays down this long (nothing waits here for an effect). */
function outageLasts(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

export default async function shortOutageHealsQuickly(cleanups: Cleanups): Promise<void> {
  const { storage, outageMs, waitMs } = parameters();
  const transport = transportFromEnv();
  const dir = storage === "file" ? await mkdtemp(join(tmpdir(), "outage-file-")) : undefined;
  if (dir !== undefined) cleanups.add(() => rm(dir, { recursive: true, force: true }));
  const options = { storage, dsn: dir, sharedSecret: SECRET, name: `outage-${storage}` } as const;
  // Instances are killed at the end: a graceful stop would wait for the cache's open streams.
  const first = await startPomerium(options);
  cleanups.add(() => first.kill());
  await writer(first.url, SECRET).put({ records: [session("s-before", "u1"), user("u-before", "u@example.com"), serviceAccount("sa-before", "u1")] });
  // retry: undefined replaces the tests' fast policy with the default one, as in production.
  const { cache, seen } = recordedCache(cleanups, { url: first.url, sharedSecret: SECRET, transport, retry: undefined });
  await synced(seen, first.serverVersion, 15_000);

  const killedAt = performance.now();
  await first.kill();
  await seen.state((s) => s.streams.every((t) => t.state !== "live"), "every stream to notice the crash");
  await outageLasts(outageMs - (performance.now() - killedAt));
  const restarted = await startPomerium({ ...options, port: first.port });
  cleanups.add(() => restarted.kill());
  const readyAt = performance.now();
  const written = [
    { type: SESSION_TYPE, id: "s-after" },
    { type: USER_TYPE, id: "u-after" },
    { type: SERVICE_ACCOUNT_TYPE, id: "sa-after" },
  ];
  await writer(restarted.url, SECRET).put({ records: [session("s-after", "u1"), user("u-after", "u2@example.com"), serviceAccount("sa-after", "u1")] });

  let liveAt: number | undefined;
  let visibleAt: number | undefined;
  const fresh = await until(
    () => {
      const now = performance.now();
      liveAt ??= allLive(cache.state, restarted.serverVersion) ? now : undefined;
      visibleAt ??= written.every((w) => cache.get(w.type, w.id) !== undefined) ? now : undefined;
      return liveAt !== undefined && visibleAt !== undefined;
    },
    "the cache fresh",
    waitMs,
  ).then(
    () => true,
    () => false,
  );
  const after = (at: number | undefined) => (at === undefined ? `>${waitMs}` : String(Math.round(at - readyAt)));
  const freshAt = liveAt === undefined || visibleAt === undefined ? undefined : Math.max(liveAt, visibleAt);
  console.log(
    `measure outage storage=${storage} outage-ms=${outageMs} transport=${transport} fresh-after-ms=${after(freshAt)}` +
      ` (every stream live after ${after(liveAt)}, records visible after ${after(visibleAt)}; bound ${HEAL_BOUND_MS})` +
      (fresh ? "" : ` streams: ${cache.state.streams.map((s) => `${s.type.slice(s.type.lastIndexOf(".") + 1)} ${s.state} attempt=${s.attempt} retryInMs=${s.retryInMs}`).join("; ")}`),
  );
  assert.ok(fresh && freshAt! - readyAt <= HEAL_BOUND_MS, `the cache was not fresh within ${HEAL_BOUND_MS} ms of the restart (took ${after(freshAt)} ms)`);
  assert.equal(cache.state.streams.length, DEFAULT_CACHE_TYPES.length);
}
