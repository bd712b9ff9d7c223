/**
 * A proxy ends idle streams cleanly (grpc-status 0 after ~300 ms of silence, as an L7 proxy's
 * stream idle timeout does every minute or so; scaled down here, retry policy scaled with it).
 * Such an end is not a failure: the stream was healthy and its position is good. Over a ~20 s run
 * with writes to each type at different rates (sessions busy, service accounts quiet):
 * - every write is visible in the cache within FRESH_BOUND_MS;
 * - no stream's attempt counter climbs (at most 1) and no retry waits more than the initial delay.
 * CACHE_TRANSPORT picks the cache's transport.
 */
import assert from "node:assert/strict";
import { DEFAULT_CACHE_TYPES, SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE, type DatabrokerRecord } from "../../../src/index.js";
import { startHttp2StreamProxy } from "../../support/http2-stream-proxy.js";
import { until } from "../../support/wait-until.js";
import { SECRET, recordedCache, serviceAccount, session, synced, user } from "../../sync/cache-sync-fixtures.js";
import { startCountingDatabroker } from "../counting-databroker.js";
import { transportFromEnv, writer, type Cleanups } from "../fault-fixtures.js";

const IDLE_END_MS = 300;
/**
 * Pomerium's clients' policy (500 ms .. 60 s) scaled down by 10. A stream counts as healthy once
 * it was open fastLoopWindowMs / fastLoopMaxRetries (by default 30 s / 6 = 5 s, well under a
 * proxy's one-minute idle timeout); scaled so it stays under this proxy's 300 ms: 1200 / 6 = 200 ms.
 */
const RETRY = { initialDelayMs: 50, maxDelayMs: 6000, fastLoopMaxRetries: 6, fastLoopWindowMs: 1200 };
const FRESH_BOUND_MS = 1000;
const TICK_MS = 250;
const TICKS = 80; // a 20 s run
/** Which types a tick writes: sessions every 2nd tick, users every 10th, service accounts every 20th. */
const SCHEDULE: ReadonlyArray<{ type: string; every: number; offset: number; record: (id: string) => DatabrokerRecord }> = [
  { type: SESSION_TYPE, every: 2, offset: 0, record: (id) => session(id, "u1") },
  { type: USER_TYPE, every: 10, offset: 3, record: (id) => user(id, `${id}@example.com`) },
  { type: SERVICE_ACCOUNT_TYPE, every: 20, offset: 7, record: (id) => serviceAccount(id, "u1") },
];

interface Write {
  readonly type: string;
  readonly id: string;
  /** When the Put returned (the record was committed). */
  writtenAt: number | undefined;
  visibleAt: number | undefined;
}

const short = (type: string) => type.slice(type.lastIndexOf(".") + 1);

/** Calls `onTick(i)` every TICK_MS for TICKS ticks (the workload's clock); resolves after the last. */
function runTicks(onTick: (i: number) => void): Promise<void> {
  return new Promise((resolve) => {
    let i = 0;
    const timer = setInterval(() => {
      onTick(i++);
      if (i === TICKS) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
}

export default async function cleanStreamEndKeepsCacheFresh(cleanups: Cleanups): Promise<void> {
  const transport = transportFromEnv();
  const server = await startCountingDatabroker(SECRET);
  cleanups.add(() => server.close());
  const proxy = await startHttp2StreamProxy(server.url, { idleEndMs: IDLE_END_MS });
  cleanups.add(() => proxy.close());
  const db = writer(server.url, SECRET);
  const { cache, seen } = recordedCache(cleanups, { url: proxy.url, sharedSecret: SECRET, transport, retry: RETRY });
  await synced(seen);

  const writes = new Map<string, Write>();
  const sub = cache.changes$().subscribe((c) => {
    if (c.kind === "overflow") return;
    for (const r of c.upserts) {
      const w = writes.get(r.id);
      if (w !== undefined && w.visibleAt === undefined) w.visibleAt = performance.now();
    }
  });
  cleanups.add(() => sub.unsubscribe());
  const statesFrom = seen.states.length;
  const puts: Promise<unknown>[] = [];
  await runTicks((i) => {
    for (const { type, every, offset, record } of SCHEDULE) {
      if (i % every !== offset) continue;
      const id = `${short(type)}-${i}`;
      const w: Write = { type, id, writtenAt: undefined, visibleAt: undefined };
      writes.set(id, w);
      puts.push(db.put({ records: [record(id)] }).then(() => (w.writtenAt ??= performance.now())));
    }
  });
  await Promise.all(puts);
  // A slow cache shows its lag here (bounded, so a broken one still reports its figures).
  await until(() => [...writes.values()].every((w) => w.visibleAt !== undefined), "every write visible", 15_000).catch(() => undefined);

  const states = seen.states.slice(statesFrom);
  const perType = DEFAULT_CACHE_TYPES.map((type) => {
    const mine = [...writes.values()].filter((w) => w.type === type);
    const lags = mine.map((w) => (w.visibleAt === undefined ? Number.POSITIVE_INFINITY : Math.max(0, w.visibleAt - w.writtenAt!)));
    const streams = states.map((s) => s.streams.find((t) => t.type === type)!);
    return {
      type,
      writes: mine.length,
      worstLagMs: Math.round(Math.max(...lags)),
      late: lags.filter((l) => l > FRESH_BOUND_MS).length,
      maxAttempt: Math.max(...streams.map((s) => s.attempt)),
      maxRetryMs: Math.max(0, ...streams.map((s) => (s.state === "backing-off" ? (s.retryInMs ?? 0) : 0))),
      idleEnds: proxy.streams.filter((s) => s.method === "Sync" && s.type === type && s.outcome === "idle-ended").length,
    };
  });
  const figure = (key: keyof (typeof perType)[number]) => perType.map((p) => `${short(p.type)}=${p[key]}`).join(",");
  console.log(
    `measure clean-stream-end transport=${transport} run-ms=${TICKS * TICK_MS} writes ${figure("writes")} late(>${FRESH_BOUND_MS}ms) ${figure("late")}` +
      ` worst-lag-ms ${figure("worstLagMs")} max-attempt ${figure("maxAttempt")} max-retry-ms ${figure("maxRetryMs")} idle-ends ${figure("idleEnds")}`,
  );

  for (const p of perType) {
    assert.ok(p.late === 0, `${short(p.type)}: ${p.late} of ${p.writes} writes took longer than ${FRESH_BOUND_MS} ms to reach the cache (worst ${p.worstLagMs} ms)`);
    assert.ok(p.maxAttempt <= 1, `${short(p.type)}: the attempt counter climbed to ${p.maxAttempt} over clean ends of a healthy stream`);
    assert.ok(p.maxRetryMs <= RETRY.initialDelayMs, `${short(p.type)}: a retry after a clean end waited ${p.maxRetryMs} ms (initial delay ${RETRY.initialDelayMs} ms)`);
  }
  // The run did exercise clean ends on every type (else the checks above prove nothing).
  for (const p of perType) assert.ok(p.idleEnds >= 10, `${short(p.type)}: only ${p.idleEnds} streams were ended idle`);
  // And every stream end in the run was a clean idle end or the cache's own close (no other fault).
  assert.deepEqual(proxy.streams.filter((s) => s.outcome !== "idle-ended" && s.outcome !== "answered" && s.outcome !== "open").map((s) => `${s.method}:${s.outcome}`), []);
}
