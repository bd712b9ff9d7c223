/**
 * Where the replica's slabs take their memory (src/replica/byte-slab.ts): a snapshot's slabs in
 * memory V8 does not count toward starting full collections (SharedArrayBuffers), change slabs in
 * memory it counts. Why it matters: V8 starts a full (mark-compact) collection each time its count
 * of external memory grows by 64 MB, so a snapshot of a million ~2 KB sessions written to counted
 * memory ran ~28 of them during the sync (each ending in an event-loop stall), none of which could
 * free anything. Changes stay counted so that churn keeps pacing the collections that free the
 * slabs the replica let go of.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { recordSlab } from "../../src/replica/cached-record.js";
import { Replica } from "../../src/replica/replica.js";
import { change, sessionRecord, snapshot } from "./replica-fixtures.js";

const run = promisify(execFile);
const fixture = fileURLToPath(new URL("./fixtures/slab-memory-collections.ts", import.meta.url));

const isShared = (r: Replica, id: string) => recordSlab(r.get(SESSION_TYPE, id)!).bytes.buffer instanceof SharedArrayBuffer;

describe("slab memory", () => {
  it("a snapshot's records are written to uncounted memory; changes, and records compaction re-copies, to counted memory", () => {
    const r = new Replica({ slabBytes: 4096 });
    r.apply(snapshot(SESSION_TYPE, Array.from({ length: 200 }, (_, n) => sessionRecord(`s${n}`, BigInt(n + 1), `u${n}`)), 200n));
    for (let n = 0; n < 200; n++) expect(isShared(r, `s${n}`), `s${n} after the snapshot`).toBe(true);

    // Replace most records: their snapshot slabs fall below half live and are compacted, one per
    // change event, so the few records left in them move into the change writer's slabs.
    let version = 200n;
    for (let n = 0; n < 200; n++) if (n % 10 !== 0) r.apply(change([sessionRecord(`s${n}`, ++version, `v${n}`)]));
    for (let n = 0; n < 200; n++) expect(isShared(r, `s${n}`), `s${n} after the changes`).toBe(false);
    for (let n = 0; n < 200; n++) expect(r.getSession(`s${n}`)?.userId).toBe(n % 10 === 0 ? `u${n}` : `v${n}`);

    // A resync writes what it brings to uncounted memory again.
    r.apply(snapshot(SESSION_TYPE, Array.from({ length: 200 }, (_, n) => sessionRecord(`s${n}`, BigInt(1000 + n), `w${n}`)), 1200n));
    for (let n = 0; n < 200; n++) expect(isShared(r, `s${n}`), `s${n} after the resync`).toBe(true);
    for (let n = 0; n < 200; n++) expect(r.getSession(`s${n}`)?.userId).toBe(`w${n}`);
  });

  it("a 256 MB snapshot runs no full collection for its bytes, and 256 MB of changes still do", { timeout: 90_000 }, async () => {
    const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", fixture], { timeout: 85_000, maxBuffer: 1 << 20 });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      writtenMiB: number;
      held: number;
      sampleIntact: boolean;
      snapshot: { externalMiB: number; fullCollections: number };
      changes: { externalMiB: number; fullCollections: number };
    };
    expect(result.held).toBe(16_384);
    expect(result.sampleIntact).toBe(true);
    // Counted, the snapshot grew V8's count by its 256 MB and ran 3 full collections for it.
    // Uncounted, the count grows by 9-16 MB here: other buffers allocated meanwhile.
    expect(result.snapshot.externalMiB, "external memory count growth during the snapshot, MiB").toBeLessThan(48);
    expect(result.snapshot.fullCollections, "full collections during the snapshot").toBeLessThanOrEqual(1);
    // What changes write is counted as before: it paces the collections that free dropped slabs.
    expect(result.changes.externalMiB, "external memory count growth during the changes, MiB").toBeGreaterThan(128);
    expect(result.changes.fullCollections, "full collections during the changes").toBeGreaterThanOrEqual(2);
  });
});
