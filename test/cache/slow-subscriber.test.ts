/** A subscriber that never consumes costs a bounded buffer and nothing else. */
import { afterEach, describe, expect, it } from "vitest";
import { SESSION_TYPE, versionOfWrite, type CacheChange, type ChangeBatch } from "../../src/index.js";
import { Cleanups, cacheFor, session, startServer, until, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const BUFFER = 8;
const WRITES = 60;

/** Pulls what is buffered, stopping when the next pull would wait; returns that waiting pull too. */
async function pullBuffered(iterator: AsyncIterator<CacheChange>) {
  const items: CacheChange[] = [];
  for (;;) {
    const pending = iterator.next();
    const next = await Promise.race([pending, new Promise<"empty">((resolve) => setTimeout(() => resolve("empty"), 50))]);
    if (next === "empty" || next.done) return { items, pending };
    items.push(next.value);
  }
}

describe("a subscriber that never consumes", () => {
  it("keeps at most its buffer, gets an overflow marker, and stalls neither sync, reads nor other subscribers", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE], subscriberBufferSize: BUFFER });
    const stalled = cache.changes(SESSION_TYPE)[Symbol.asyncIterator]();
    const seenByOther = new Set<string>();
    cache.changes$(SESSION_TYPE).subscribe((b) => {
      if (b.kind !== "overflow") for (const r of b.upserts) seenByOther.add(r.id);
    });
    await cache.ready({ timeoutMs: 5000 });

    // One write at a time: each arrives as its own change batch.
    for (let i = 0; i < WRITES; i++) {
      const v = versionOfWrite(await db.put({ records: [session(`s${i}`, "u1")] }));
      await cache.waitForVersion(v, { timeoutMs: 5000 });
    }
    expect(cache.size(SESSION_TYPE)).toBe(WRITES);
    expect(cache.getSession(`s${WRITES - 1}`)?.id).toBe(`s${WRITES - 1}`);
    await until(() => seenByOther.size === WRITES, "the other subscriber to see every write");

    const { items: buffered, pending } = await pullBuffered(stalled);
    expect(buffered.length).toBeLessThanOrEqual(BUFFER + 1);
    expect(buffered[0]).toMatchObject({ kind: "overflow", type: SESSION_TYPE });
    const dropped = (buffered[0] as { droppedBatches: number }).droppedBatches;
    // Every batch (the snapshot and each write) is either dropped or still buffered.
    expect(dropped + buffered.length - 1).toBe(WRITES + 1);
    const last = buffered[buffered.length - 1] as ChangeBatch;
    expect(last.upserts.map((r) => r.id)).toEqual([`s${WRITES - 1}`]);

    // The consumer can carry on after re-reading; ending the iteration unsubscribes it.
    await db.put({ records: [session("later", "u1")] });
    const next = await pending;
    expect(next.done).toBe(false);
    expect((next.value as ChangeBatch).upserts.map((r) => r.id)).toEqual(["later"]);
    await stalled.return?.();
    expect((await stalled.next()).done).toBe(true);
  });

  it("keeps at most subscriberBufferBytes of record data (plus one batch), however few batches that is", async () => {
    const BOUND = 8 * 1024;
    const server = await startServer(cleanups);
    const db = writer(server.url);
    // Far fewer batches than subscriberBufferSize: only the byte bound can hold this buffer.
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE], subscriberBufferBytes: BOUND });
    const stalled = cache.changes(SESSION_TYPE)[Symbol.asyncIterator]();
    await cache.ready({ timeoutMs: 5000 });
    const padding = "x".repeat(1000); // ~1 KB of data per session
    for (let i = 0; i < 30; i++) {
      const v = versionOfWrite(await db.put({ records: [session(`s${i}`, "u1", { idToken: { raw: padding } })] }));
      await cache.waitForVersion(v, { timeoutMs: 5000 });
    }
    const oneBatch = cache.get(SESSION_TYPE, "s29")!.dataLength;
    const { items: buffered } = await pullBuffered(stalled);
    const bytes = buffered.reduce((sum, item) => sum + (item.kind === "overflow" ? 0 : item.upserts.reduce((n, r) => n + r.dataLength, 0)), 0);
    expect(bytes).toBeLessThanOrEqual(BOUND + oneBatch);
    expect(buffered[0]).toMatchObject({ kind: "overflow", type: SESSION_TYPE });
    expect((buffered.at(-1) as ChangeBatch).upserts.map((r) => r.id)).toEqual(["s29"]);
    await stalled.return?.();
  });

  it("for await over changes() ends when the cache closes", async () => {
    const server = await startServer(cleanups);
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE] });
    const kinds: string[] = [];
    const consumed = (async () => {
      for await (const change of cache.changes()) kinds.push(change.kind);
    })();
    await cache.ready({ timeoutMs: 5000 });
    await until(() => kinds.length === 1, "snapshot batch");
    await cache.close();
    await consumed;
    expect(kinds).toEqual(["snapshot"]);
  });
});
