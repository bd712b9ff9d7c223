/**
 * A compaction under a live Sync stream that has not read everything yet, against our in-memory
 * databroker: the stream goes on past the removed changes without ABORTED, so a cache fed by
 * Sync alone never sees them. The periodic re-read starts from an older position, which the
 * server answers with ABORTED "invalid record version", and the type resyncs from SyncLatest.
 *
 * Deterministic: each cache reaches the server through its own HTTP/2 stream proxy, which holds
 * the cache's live Sync stream (stops reading it, so flow control makes the server's writes wait
 * partway through the changes it read) while the writes and compactNow() happen, then releases
 * it. Two caches see the same writes: one with a refresh, and a control whose refresh never
 * fires within the test (Sync alone).
 */
import { Code } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { SESSION_TYPE, type DatabrokerCache, type StreamRefreshOptions } from "../../src/index.js";
import { startHttp2StreamProxy, type Http2StreamProxy, type ProxiedStream } from "../support/http2-stream-proxy.js";
import { Cleanups, cacheFor, session, startServer, streamsReached, until, writer } from "./cache-fixtures.js";

const REFRESH = { intervalMs: 3000, lateCommitGraceMs: 0 } as const satisfies StreamRefreshOptions;
/** Never fires within the test: Sync alone. */
const REFRESH_OFF = { intervalMs: 3_600_000, lateCommitGraceMs: 0 } as const satisfies StreamRefreshOptions;
/** The next refresh comes at most `intervalMs` after the release; the margin covers the ABORTED and the resync. */
const CONVERGE_WITHIN_MS = REFRESH.intervalMs + 4000;
const WAIT_MS = 10_000;
/**
 * Far more than HTTP/2's flow-control windows and more than the server reads at once (it scans
 * changes in batches of 256), so the held stream stops partway and the rest is left to the next scan.
 */
const FILLERS = 300;
const FILLER_BYTES = 4096;

describe("a compaction under a held live stream, on our in-memory databroker", () => {
  const cleanups = new Cleanups();
  afterAll(() => cleanups.run());

  it("skips the compacted changes on Sync alone; the refreshing cache resyncs and holds them within the bound", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("c-seed", "u0")] });
    const through = async (streamRefresh: StreamRefreshOptions): Promise<{ cache: DatabrokerCache; proxy: Http2StreamProxy }> => {
      const proxy = await startHttp2StreamProxy(server.url);
      cleanups.add(() => proxy.close());
      const cache = cacheFor(cleanups, proxy.url, { types: [SESSION_TYPE], streamRefresh });
      await cache.ready({ timeoutMs: WAIT_MS });
      return { cache, proxy };
    };
    // Together, so the refreshing cache's live stream has most of an interval before its first refresh.
    const [refreshing, control] = await Promise.all([through(REFRESH), through(REFRESH_OFF)]);
    const liveSync = (proxy: Http2StreamProxy): ProxiedStream | undefined => proxy.open("Sync", SESSION_TYPE)[0];
    await until(() => liveSync(refreshing.proxy) !== undefined && liveSync(control.proxy) !== undefined, "both live streams", WAIT_MS);
    const held = [refreshing, control].map(({ proxy }) => ({ proxy, stream: liveSync(proxy)! }));
    for (const { proxy, stream } of held) proxy.hold(stream);

    const data = "x".repeat(FILLER_BYTES);
    await db.put({ records: Array.from({ length: FILLERS }, (_, i) => session(`c-filler-${String(i).padStart(3, "0")}`, "u1", { idToken: { raw: data } })) });
    const missed = (await db.put({ records: [session("c-missed", "u2")] })).records[0]!.version;
    const newest = (await db.put({ records: [session("c-newest", "u3")] })).records[0]!.version;
    server.compactNow();
    // Both streams were still the held ones: the hold took less than a refresh interval.
    expect(held.map(({ stream }) => stream.outcome), "the held streams at the release").toEqual(["open", "open"]);
    const releasedAt = performance.now();
    const liveBeforeReleaseMs = Math.round(releasedAt - held[0]!.stream.openedAt);
    for (const { proxy, stream } of held) proxy.release(stream);
    const head = { serverVersion: server.serverVersion, recordVersion: newest };

    // Sync alone: the stream reaches the newest change, skipping what the compaction removed.
    await until(() => streamsReached(control.cache, head), `the control's stream at version ${newest}`, WAIT_MS);
    expect(control.cache.get(SESSION_TYPE, "c-missed")).toBeUndefined();
    const controlSize = control.cache.size(SESSION_TYPE);
    expect(controlSize).toBeLessThan(FILLERS + 3);
    expect(control.proxy.count("SyncLatest", SESSION_TYPE)).toBe(1);
    expect(control.proxy.streams.filter((s) => s.grpcStatus === Code.Aborted)).toEqual([]);

    // The refreshing cache's stream skipped them too (until its next refresh): a figure, not a check,
    // since a refresh during a stall of the machine could come first.
    await until(() => streamsReached(refreshing.cache, head), `the refreshing cache's stream at version ${newest}`, WAIT_MS);
    const refreshingSkipped = refreshing.cache.get(SESSION_TYPE, "c-missed") === undefined;

    // The refreshing cache: ABORTED on the re-read, a resync, and then everything.
    const expected = new Map<string, bigint>();
    for await (const m of db.syncLatest({ type: SESSION_TYPE })) if (m.response.case === "record") expected.set(m.response.value.id, m.response.value.version);
    expect(expected.size).toBe(FILLERS + 3);
    expect(expected.get("c-missed")).toBe(missed);
    const missing = () => [...expected].filter(([id, version]) => refreshing.cache.get(SESSION_TYPE, id)?.version !== version).map(([id]) => id);
    const holdsAll = () => refreshing.cache.size(SESSION_TYPE) === expected.size && missing().length === 0;
    try {
      await until(holdsAll, "the refreshing cache to hold every record", CONVERGE_WITHIN_MS);
    } catch {
      const left = missing();
      expect({ missing: left.length, firstMissing: left.slice(0, 3), size: refreshing.cache.size(SESSION_TYPE) }, `${CONVERGE_WITHIN_MS} ms after the release`).toEqual({
        missing: 0,
        firstMissing: [],
        size: expected.size,
      });
    }
    const convergedMs = Math.round(performance.now() - releasedAt);
    const aborted = refreshing.proxy.streams.filter((s) => s.method === "Sync" && s.grpcStatus === Code.Aborted);
    expect(aborted.map((s) => s.grpcMessage)).toEqual(["invalid record version"]);
    expect(refreshing.proxy.streams.some((s) => s.method === "SyncLatest" && s.seq > aborted[0]!.seq)).toBe(true);

    // The control has still not seen them.
    expect(control.cache.get(SESSION_TYPE, "c-missed")).toBeUndefined();
    console.log(
      `measure compaction-under-held-stream fillers=${FILLERS} controlHeld=${controlSize} of ${expected.size} ` +
        `refreshingLiveBeforeReleaseMs=${liveBeforeReleaseMs} refreshingSkipped=${refreshingSkipped} refreshingConvergedMs=${convergedMs} boundMs=${CONVERGE_WITHIN_MS}`,
    );
  });
});
