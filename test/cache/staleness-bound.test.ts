/**
 * maxStalenessMs through a blackholed link (every HTTP/2 stream held by the proxy, sockets open):
 * reads and assertion verification fail closed once the cache was last known caught up more than
 * the bound ago, not a millisecond before, and recover when the link does. The cache runs on an
 * injected clock that only the test moves, so the bound is checked exactly, without sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, SESSION_TYPE, StaleCacheError, createAssertionVerifier, createDatabrokerCache, type CacheState } from "../../src/index.js";
import { startHttp2StreamProxy, type Http2StreamProxy } from "../support/http2-stream-proxy.js";
import { HOST, mint, newSigningKey } from "../identity/assertion-fixtures.js";
import { Cleanups, FAST_RETRY, SECRET, session, startServer, until, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
let proxy: Http2StreamProxy;
let db: ReturnType<typeof writer>;
beforeAll(async () => {
  const server = await startServer(cleanups);
  db = writer(server.url);
  await db.put({ records: [session("s1", "u1")] });
  proxy = await startHttp2StreamProxy(server.url);
  cleanups.add(() => proxy.close());
});
afterAll(() => cleanups.run());

describe("maxStalenessMs", () => {
  it("fails closed past the bound and not before, through a blackholed link, and recovers with it", async () => {
    let now = Date.now();
    const clock = { now: () => now };
    const bound = 30_000;
    const cache = createDatabrokerCache({
      url: proxy.url,
      sharedSecret: SECRET,
      retry: FAST_RETRY,
      types: [SESSION_TYPE],
      clock,
      maxStalenessMs: bound,
      stalenessProbeIntervalMs: 20,
    });
    cleanups.add(() => cache.close());
    const states: CacheState[] = [];
    const sub = cache.state$.subscribe((s) => states.push(s));
    cleanups.add(() => sub.unsubscribe());
    const key = await newSigningKey();
    const verifier = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: { keys: [key.publicJwk] }, clock });
    cleanups.add(() => verifier.close());
    const token = await mint(key, { sid: "s1", sub: "u1", iatSec: Math.floor(now / 1000) });

    // Before the first snapshot the cache has never been caught up: reads fail closed.
    expect(() => cache.getSession("s1")).toThrow(StaleCacheError);
    await cache.ready({ timeoutMs: 5000 });
    await until(() => cache.stalenessMs() === 0, "caught up");
    expect(cache.getSession("s1")?.userId).toBe("u1");
    expect(cache.state).toMatchObject({ stale: false, maxStalenessMs: bound });
    const caughtUpAt = now;

    // Blackhole: every stream (the Sync stream, every probe) is held. Probes go out once the
    // clock moves past the probe interval; wait until one was sent into the hole.
    proxy.holdAll();
    const probesBefore = proxy.count("ServerInfo");
    now += 100;
    await until(() => proxy.count("ServerInfo") > probesBefore, "a probe sent into the blackhole");
    await db.put({ records: [session("s2", "u2")] });

    now = caughtUpAt + bound; // exactly at the bound: still fresh
    expect(cache.stalenessMs()).toBe(bound);
    expect(cache.getSession("s1")?.userId).toBe("u1");
    expect((await verifier.verify(token)).ok).toBe(true);

    now = caughtUpAt + bound + 1; // one millisecond past it: closed
    let thrown: unknown;
    try {
      cache.getSession("s1");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StaleCacheError);
    expect(thrown).toBeInstanceOf(ConnectError);
    expect((thrown as ConnectError).code).toBe(Code.Unavailable);
    expect((thrown as StaleCacheError).stalenessMs).toBe(bound + 1);
    expect(() => cache.get(SESSION_TYPE, "s1")).toThrow(StaleCacheError);
    expect(() => cache.query(SESSION_TYPE)).toThrow(StaleCacheError);
    expect(cache.freshness(SESSION_TYPE)).toBe("unknown");
    expect(await verifier.verify(token)).toMatchObject({ ok: false, reason: "cache-stale" });
    await until(() => cache.state.stale, "state$ to show the cache stale");
    expect(states.at(-1)!.stalenessMs).toBeGreaterThan(bound);

    // The link comes back: a probe answers, the held stream delivers what was written meanwhile.
    proxy.releaseAll();
    await until(() => !cache.state.stale, "state$ to show the cache fresh again");
    expect(cache.stalenessMs()).toBeLessThanOrEqual(bound);
    await until(() => cache.getSession("s2") !== undefined, "the write made during the blackhole");
    expect((await verifier.verify(token)).ok).toBe(true);
  });

  it("is off by default: reads answer, state$ shows the figure", async () => {
    const cache = createDatabrokerCache({ url: proxy.url, sharedSecret: SECRET, retry: FAST_RETRY, types: [SESSION_TYPE] });
    cleanups.add(() => cache.close());
    expect(cache.getSession("s1")).toBeUndefined();
    expect(cache.state).toMatchObject({ stale: false, maxStalenessMs: undefined, stalenessMs: undefined });
    await cache.ready({ timeoutMs: 5000 });
    expect(cache.stalenessMs()).toBeTypeOf("number");
    expect(cache.state.streams[0]!.caughtUpAt).toBeTypeOf("number");
  });

  it("refuses settings that cannot work", () => {
    const make = (extra: object) => () => createDatabrokerCache({ url: proxy.url, sharedSecret: SECRET, ...extra });
    expect(make({ maxStalenessMs: 0 })).toThrow(/maxStalenessMs/);
    expect(make({ maxStalenessMs: Number.POSITIVE_INFINITY })).toThrow(/maxStalenessMs/);
    expect(make({ stalenessProbeIntervalMs: 100 })).toThrow(/needs `maxStalenessMs`/);
    expect(make({ maxStalenessMs: 1000, stalenessProbeIntervalMs: 1 })).toThrow(/stalenessProbeIntervalMs/);
  });
});
