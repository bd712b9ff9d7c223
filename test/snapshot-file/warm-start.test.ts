/**
 * Warm start against our databroker (real HTTP/2 on loopback, counted at the server): a cache
 * restarts from its snapshot file without a SyncLatest, with the changes made while it was down
 * applied before ready(); a snapshot the server refuses (ABORTED) or that cannot be used falls
 * back to the server with one log line, and subscribers see only real differences.
 */
import { mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDatabrokerCache, type CacheChange, type DatabrokerCache, type DatabrokerCacheOptions } from "../../src/index.js";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { snapshotKey } from "../../src/snapshot-file/snapshot-key.js";
import { startCountingDatabroker, type CountingDatabroker } from "../faults/counting-databroker.js";
import { Cleanups, FAST_RETRY, SECRET, deleted, session, until, user, writer } from "../cache/cache-fixtures.js";

const TYPES = [SESSION_TYPE, USER_TYPE];

interface Logged {
  readonly level: string;
  readonly message: string;
  readonly attributes: Record<string, unknown> | undefined;
}

let server: CountingDatabroker;
let folder: string;
const cleanups = new Cleanups();

beforeAll(async () => {
  server = await startCountingDatabroker(SECRET);
  folder = await mkdtemp(join(tmpdir(), "warm-start-"));
});
afterAll(async () => {
  await server.close();
  await rm(folder, { recursive: true, force: true });
});
afterEach(() => cleanups.run());

let n = 0;
function freshPath(): string {
  return join(folder, `snapshot-${++n}.bin`);
}

function startCache(path: string, logs: Logged[] = [], extra: Partial<DatabrokerCacheOptions> = {}): DatabrokerCache {
  const cache = createDatabrokerCache({
    url: server.url,
    sharedSecret: SECRET,
    retry: FAST_RETRY,
    types: TYPES,
    logger: {
      info: (message, attributes) => logs.push({ level: "info", message, attributes }),
      warn: (message, attributes) => logs.push({ level: "warn", message, attributes }),
    },
    ...extra,
    snapshot: { path, ...extra.snapshot },
  });
  cleanups.add(() => cache.close());
  return cache;
}

/** A first cache fills the snapshot file: ready, then closed (the close writes it). */
async function seedSnapshot(path: string, extra: Partial<DatabrokerCacheOptions> = {}): Promise<void> {
  const cache = startCache(path, [], extra);
  await cache.ready({ timeoutMs: 10_000 });
  await cache.close();
}

function ids(cache: DatabrokerCache, type: string): string[] {
  return cache.query(type).records.map((r) => r.id).sort();
}

async function serverIds(type: string): Promise<string[]> {
  const answer = await writer(server.url).query({ type, limit: 10_000n });
  return answer.records.map((r) => r.id).sort();
}

describe("warm start from a snapshot file", () => {
  it("resumes Sync from the saved position: no SyncLatest, and changes and deletes made while down are in the replica at ready", async () => {
    const w = writer(server.url);
    await w.put({ records: [session("a1", "u1"), session("a2", "u1"), session("a3", "u2"), user("u1", "one@example.com")] });
    const path = freshPath();
    await seedSnapshot(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    // While the process is down: a new session, an update, a sign-out.
    await w.put({ records: [session("a4", "u2"), session("a2", "u9"), deleted(session("a3", "u2"))] });
    const syncLatestBefore = server.count("SyncLatest");
    const logs: Logged[] = [];
    const cache = startCache(path, logs);
    await cache.ready({ timeoutMs: 10_000 });

    expect(cache.getSession("a3")).toBeUndefined();
    expect(cache.getSession("a4")?.userId).toBe("u2");
    expect(cache.getSession("a2")?.userId).toBe("u9");
    expect(server.count("SyncLatest") - syncLatestBefore).toBe(0);
    expect(ids(cache, SESSION_TYPE)).toEqual(await serverIds(SESSION_TYPE));
    expect(ids(cache, USER_TYPE)).toEqual(await serverIds(USER_TYPE));
    for (const stream of cache.state.streams) {
      expect(stream.startedFrom).toBe("snapshot");
      expect(stream.caughtUp).toBe(true);
      expect(stream.snapshotAgeMs).toBeGreaterThanOrEqual(0);
    }
    expect(logs.some((l) => l.message === "resumed from snapshot")).toBe(true);
  });

  it('with readiness "snapshot", ready resolves from the file before the backlog is read', async () => {
    const w = writer(server.url);
    await w.put({ records: [session("b1", "u1")] });
    const path = freshPath();
    await seedSnapshot(path);
    await w.put({ records: [deleted(session("b1", "u1"))] });
    const cache = startCache(path, [], { snapshot: { path, readiness: "snapshot" } });
    await cache.ready({ timeoutMs: 10_000 });
    // Ready from the file: the streams may not have read the deletion yet, but they will.
    expect(cache.state.streams.every((s) => s.startedFrom === "snapshot")).toBe(true);
    await until(() => cache.getSession("b1") === undefined, "the deletion made while down is applied", 10_000);
  });

  it("after a server Clear the saved position is ABORTED: a SyncLatest is swapped in and subscribers see only real differences", async () => {
    const w = writer(server.url);
    const path = freshPath();
    await w.put({ records: [session("c1", "u1"), session("c2", "u1"), user("uc", "c@example.com")] });
    await seedSnapshot(path);
    await w.clear({});
    // The same content under the new server version, one session changed, one gone.
    await w.put({ records: [session("c1", "u1"), session("c2", "u7"), user("uc", "c@example.com")] });
    const kept = await serverIds(SESSION_TYPE);

    const logs: Logged[] = [];
    const cache = startCache(path, logs);
    const changes: CacheChange[] = [];
    const sub = cache.changes$(SESSION_TYPE).subscribe((c) => changes.push(c));
    cleanups.add(() => sub.unsubscribe());
    let emptyReads = 0;
    let loaded = false;
    const probe = cache.changes$(SESSION_TYPE).subscribe(() => {
      if (loaded && cache.size(SESSION_TYPE) === 0) emptyReads++;
      loaded = true;
    });
    cleanups.add(() => probe.unsubscribe());
    await cache.ready({ timeoutMs: 10_000 });
    await until(() => changes.some((c) => c.kind === "resync"), "the resync batch is delivered", 5_000);

    expect(ids(cache, SESSION_TYPE)).toEqual(kept);
    expect(cache.getSession("c2")?.userId).toBe("u7");
    const resync = changes.find((c) => c.kind === "resync");
    expect(resync !== undefined && resync.kind === "resync" ? resync.upserts.map((r) => r.id) : undefined).toEqual(["c2"]);
    expect(emptyReads).toBe(0);
    // One line per stream whose position was refused.
    expect(logs.filter((l) => l.attributes?.reason === "aborted")).toHaveLength(cache.state.streams.length);
    expect(cache.state.streams.every((s) => s.startedFrom === "snapshot" && s.serverVersion === server.serverVersion)).toBe(true);
  });

  it("the file holds no token, id, email or secret in clear", async () => {
    const w = writer(server.url);
    const tokens = { accessToken: "access-token-PLAINTEXT-1f2e", refreshToken: "refresh-token-PLAINTEXT-9a8b" };
    await w.put({
      records: [
        session("session-id-PLAINTEXT-77aa", "user-id-PLAINTEXT-33cc", { oauthToken: tokens, idToken: { raw: "id-token-PLAINTEXT-5d6e" } }),
        user("user-id-PLAINTEXT-33cc", "someone-PLAINTEXT@example.com"),
      ],
    });
    const path = freshPath();
    await seedSnapshot(path);
    const bytes = await readFile(path);
    const secretBytes = Buffer.from(SECRET, "base64");
    const needles: Buffer[] = [
      ...["session-id-PLAINTEXT-77aa", "user-id-PLAINTEXT-33cc", tokens.accessToken, tokens.refreshToken, "id-token-PLAINTEXT-5d6e", "someone-PLAINTEXT@example.com", "PLAINTEXT", SECRET].map((s) => Buffer.from(s)),
      secretBytes,
      Buffer.from(snapshotKey(SECRET, undefined)),
    ];
    for (const needle of needles) expect(bytes.indexOf(needle), needle.toString("hex")).toBe(-1);
    // The file does hold them, encrypted: a cache started from it reads them back.
    const cache = startCache(path);
    await cache.ready({ timeoutMs: 10_000 });
    expect(cache.getSession("session-id-PLAINTEXT-77aa")?.oauthToken?.accessToken).toBe(tokens.accessToken);
    expect(cache.state.streams.every((s) => s.startedFrom === "snapshot")).toBe(true);
  });

  it("refuses bad snapshot settings before connecting (ConnectError InvalidArgument)", () => {
    const callsBefore = server.calls.length;
    const make = (snapshot: Record<string, unknown>) => () => createDatabrokerCache({ url: server.url, sharedSecret: SECRET, snapshot: snapshot as never });
    for (const bad of [{ path: "" }, { path: freshPath(), key: new Uint8Array(16) }, { path: freshPath(), intervalMs: 0 }, { path: freshPath(), maxAgeMs: -1 }, { path: freshPath(), readiness: "soon" }]) {
      expect(make(bad)).toThrow(expect.objectContaining({ code: Code.InvalidArgument }));
    }
    expect(server.calls.length).toBe(callsBefore);
  });

  const invalidations: Array<{ name: string; reason: string; spoil: (path: string) => Promise<void>; extra?: (path: string) => Partial<DatabrokerCacheOptions> }> = [
    { name: "older than maxAgeMs", reason: "expired", spoil: async () => {}, extra: (path) => ({ snapshot: { path, maxAgeMs: 1 } }) },
    { name: "written for another set of types", reason: "mismatch", spoil: async () => {}, extra: () => ({ types: [SESSION_TYPE] }) },
    { name: "written with another projection", reason: "mismatch", spoil: async () => {}, extra: () => ({ projection: "lean" }) },
    { name: "encrypted under another key", reason: "key", spoil: async () => {}, extra: (path) => ({ snapshot: { path, key: new Uint8Array(32).fill(7) } }) },
    {
      name: "tampered (one flipped byte in a chunk)",
      reason: "tampered",
      spoil: async (path) => {
        const bytes = await readFile(path);
        const at = bytes.length - 20;
        bytes[at] = bytes[at]! ^ 0x01;
        await writeFile(path, bytes);
      },
    },
    { name: "truncated", reason: "truncated", spoil: async (path) => truncate(path, (await stat(path)).size - 7) },
    {
      name: "of another format",
      reason: "format",
      spoil: async (path) => {
        const bytes = await readFile(path);
        bytes[9] = 99; // the format version
        await writeFile(path, bytes);
      },
    },
    {
      name: "that cannot be read",
      reason: "unreadable",
      spoil: async (path) => {
        await rm(path);
        await mkdir(path); // opens, but reading fails (EISDIR), whoever runs the test
      },
    },
  ];

  for (const { name, reason, spoil, extra } of invalidations) {
    it(`a snapshot ${name} is not used: one log line (${reason}), then a sync from the server`, async () => {
      const w = writer(server.url);
      await w.put({ records: [session(`d-${reason}`, "u1"), user("ud", "d@example.com")] });
      const path = freshPath();
      await seedSnapshot(path);
      await spoil(path);
      const syncLatestBefore = server.count("SyncLatest");
      const logs: Logged[] = [];
      const cache = startCache(path, logs, extra?.(path) ?? {});
      await cache.ready({ timeoutMs: 10_000 });
      expect(cache.getSession(`d-${reason}`)?.userId).toBe("u1");
      expect(server.count("SyncLatest") - syncLatestBefore).toBe(cache.state.streams.length);
      expect(cache.state.streams.every((s) => s.startedFrom === "server")).toBe(true);
      const lines = logs.filter((l) => l.message.startsWith("snapshot not used"));
      expect(lines).toHaveLength(1);
      expect(lines[0]?.attributes?.reason).toBe(reason);
      expect(JSON.stringify(logs)).not.toContain(SECRET);
    });
  }
});
