/**
 * Warm start against Pomerium's own databroker (the Go peer). On file and Postgres storage the
 * server version survives a restart: a cache restarted from its snapshot (with the server
 * restarted too while it was down) asks for no SyncLatest (counted by a stream proxy in front of
 * the server), has the changes and deletes made while it was down at ready(), and equals the
 * server's SyncLatest. On memory storage a restart makes a new server version: the saved position
 * is refused with ABORTED, the cache resyncs, and reads never go empty.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabrokerCache, type DatabrokerCache } from "../../src/index.js";
import { rawRecordFromRecord } from "../../src/replica/raw-record.js";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { deleted, session, user } from "../cache/cache-fixtures.js";
import { requirePomeriumOrExplain } from "../interop/interop-availability.js";
import { databrokerClients } from "../server/databroker-client.js";
import { startHttp2StreamProxy, type Http2StreamProxy } from "../support/http2-stream-proxy.js";
import { startPomerium, type PomeriumInstance, type PomeriumStorage } from "../support/pomerium-harness.js";
import { startPostgresCluster, type PostgresCluster } from "../support/postgres-cluster.js";

const SECRET = randomBytes(32).toString("base64");
const TYPES = [SESSION_TYPE, USER_TYPE];
const RETRY = { initialDelayMs: 20, maxDelayMs: 500, authRetryDelayMs: 500, fastLoopMaxRetries: 50, fastLoopWindowMs: 1000 };
const WAIT_MS = 30_000;

let folder: string;
let postgres: PostgresCluster | undefined;

beforeAll(async () => {
  await requirePomeriumOrExplain();
  folder = await mkdtemp(join(tmpdir(), "warm-start-pomerium-"));
}, 120_000);
afterAll(async () => {
  await postgres?.stop();
  await rm(folder, { recursive: true, force: true });
});

async function dsnFor(storage: PomeriumStorage): Promise<string | undefined> {
  if (storage === "file") return await mkdtemp(join(folder, "pomerium-file-"));
  if (storage === "postgres") {
    postgres ??= await startPostgresCluster();
    await postgres.createDatabase("warm_start");
    return postgres.dsn("warm_start");
  }
  return undefined;
}

function startCache(url: string, path: string, logs: string[] = []): DatabrokerCache {
  return createDatabrokerCache({
    url,
    sharedSecret: SECRET,
    retry: RETRY,
    types: TYPES,
    snapshot: { path },
    logger: { warn: (message, attributes) => logs.push(`${message} ${JSON.stringify(attributes)}`) },
  });
}

/** (id, version) of every record the server's SyncLatest lists for `type`. */
async function serverRecords(url: string, type: string): Promise<string[]> {
  const out: string[] = [];
  for await (const message of databrokerClients(url, SECRET).databroker.syncLatest({ type })) {
    if (message.response.case === "record") {
      const r = rawRecordFromRecord(message.response.value);
      out.push(`${r.id}@${r.version}`);
    }
  }
  return out.sort();
}

function cacheRecords(cache: DatabrokerCache, type: string): string[] {
  return cache.query(type).records.map((r) => `${r.id}@${r.version}`).sort();
}

async function restart(instance: PomeriumInstance, storage: PomeriumStorage, dsn: string | undefined): Promise<PomeriumInstance> {
  await instance.stop();
  return await startPomerium({ storage, sharedSecret: SECRET, port: instance.port, name: `warm-start-${storage}`, ...(dsn === undefined ? {} : { dsn }) });
}

describe.each(["file", "postgres"] as const)("warm start on Pomerium %s storage", (storage) => {
  it("restarts from its snapshot: no SyncLatest, the changes made while down are in at ready, and it equals the server's SyncLatest", { timeout: 120_000 }, async () => {
    const dsn = await dsnFor(storage);
    let pomerium = await startPomerium({ storage, sharedSecret: SECRET, name: `warm-start-${storage}`, ...(dsn === undefined ? {} : { dsn }) });
    let proxy: Http2StreamProxy | undefined;
    try {
      // On a fresh Postgres database Pomerium v0.32.9's migrations store a second random server
      // version after reading the first, and the first process keeps serving the first: the
      // version changes once, at the first restart. Settle it before the test (harmless for file).
      pomerium = await restart(pomerium, storage, dsn);
      const db = () => databrokerClients(pomerium.url, SECRET).databroker;
      await db().put({ records: [session("w1", "u1"), session("w2", "u1"), session("w3", "u2"), user("u1", "one@example.com")] });
      const path = join(folder, `${storage}.snapshot`);
      const first = startCache(pomerium.url, path);
      await first.ready({ timeoutMs: WAIT_MS });
      await first.close();

      // While the cache is down: the server restarts (same storage), and records change.
      pomerium = await restart(pomerium, storage, dsn);
      expect(pomerium.serverVersion).toBe(first.state.streams[0]?.serverVersion);
      await db().put({ records: [session("w4", "u2"), session("w2", "u9"), deleted(session("w3", "u2")), user("u2", "two@example.com")] });

      proxy = await startHttp2StreamProxy(pomerium.url);
      const logs: string[] = [];
      const cache = startCache(proxy.url, path, logs);
      try {
        await cache.ready({ timeoutMs: WAIT_MS });
        expect(cache.getSession("w3")).toBeUndefined();
        expect(cache.getSession("w2")?.userId).toBe("u9");
        expect(cache.getSession("w4")?.userId).toBe("u2");
        expect(cache.getUser("u2")?.email).toBe("two@example.com");
        expect(proxy.streams.filter((s) => s.method === "SyncLatest")).toEqual([]);
        expect(proxy.streams.filter((s) => s.method === "Sync").length).toBeGreaterThanOrEqual(TYPES.length);
        for (const type of TYPES) expect(cacheRecords(cache, type)).toEqual(await serverRecords(pomerium.url, type));
        expect(cache.state.streams.map((s) => s.startedFrom)).toEqual(["snapshot", "snapshot"]);
        expect(logs).toEqual([]);
      } finally {
        await cache.close();
      }
    } finally {
      await proxy?.close();
      await pomerium.stop();
    }
  });
});

describe("warm start on Pomerium memory storage", () => {
  it("after a server restart the saved position is ABORTED: the cache resyncs, and reads never go empty", { timeout: 120_000 }, async () => {
    let pomerium = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "warm-start-memory" });
    let proxy: Http2StreamProxy | undefined;
    try {
      const db = () => databrokerClients(pomerium.url, SECRET).databroker;
      await db().put({ records: [session("m1", "u1"), session("m2", "u1"), user("u1", "one@example.com")] });
      const path = join(folder, "memory.snapshot");
      const first = startCache(pomerium.url, path);
      await first.ready({ timeoutMs: WAIT_MS });
      const before = first.state.streams[0]?.serverVersion;
      await first.close();

      pomerium = await restart(pomerium, "memory", undefined);
      expect(pomerium.serverVersion).not.toBe(before);
      await db().put({ records: [session("m1", "u1"), session("m5", "u5"), user("u1", "one@example.com")] });

      proxy = await startHttp2StreamProxy(pomerium.url);
      const logs: string[] = [];
      const cache = startCache(proxy.url, path, logs);
      let loaded = false;
      let emptyReads = 0;
      const probe = cache.changes$(SESSION_TYPE).subscribe(() => {
        if (loaded && cache.size(SESSION_TYPE) === 0) emptyReads++;
        loaded = true;
      });
      try {
        await cache.ready({ timeoutMs: WAIT_MS });
        expect(cache.getSession("m2")).toBeUndefined();
        expect(cache.getSession("m5")?.userId).toBe("u5");
        for (const type of TYPES) expect(cacheRecords(cache, type)).toEqual(await serverRecords(pomerium.url, type));
        const syncs = proxy.streams.filter((s) => s.method === "Sync");
        expect(syncs.some((s) => s.grpcStatus === 10 /* ABORTED */)).toBe(true);
        expect(proxy.streams.filter((s) => s.method === "SyncLatest").length).toBe(TYPES.length);
        expect(emptyReads).toBe(0);
        expect(logs.filter((l) => l.includes('"reason":"aborted"'))).toHaveLength(TYPES.length);
        expect(cache.state.streams.every((s) => s.serverVersion === pomerium.serverVersion)).toBe(true);
      } finally {
        probe.unsubscribe();
        await cache.close();
      }
    } finally {
      await proxy?.close();
      await pomerium.stop();
    }
  });
});
