/**
 * What a held record costs the garbage collector: each heap object a record keeps is marked and
 * moved in every full collection, so the replica keeps as few per record as it can. A record's
 * version is a bigint in the API but is held as a plain number when small (cached-record.ts):
 * 20,000 held records must not keep 20,000 bigints. Counted in a V8 heap snapshot of a child
 * process (--expose-gc), so nothing else in the test runner's heap is counted.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const fixture = fileURLToPath(new URL("./fixtures/held-heap-objects.ts", import.meta.url));

describe("heap objects held per record", () => {
  it("20,000 held records keep one CachedRecord each, no bigint per record and no Set per user in the index", { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", fixture], { timeout: 55_000 });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as { held: number; cachedRecords: number; bytesPerCachedRecord: number; bigints: number; sets: number; big: string; small: string };
    expect(result.held).toBe(20_000);
    // The count sees the replica's records: one CachedRecord per held record.
    expect(result.cachedRecords).toBe(20_000);
    // Each CachedRecord's own size: its fields and the object header (104 bytes with 8-byte
    // pointers). A field more, or a private method (which gives every instance a brand slot),
    // makes it 112: 8 MB more per million records held.
    expect(result.bytesPerCachedRecord, "bytes of each CachedRecord itself").toBeLessThanOrEqual(104);
    // A bigint per record would be 20,000. What remains is the replica's positions and the one
    // version above the small-number limit, and whatever the runtime holds.
    expect(result.bigints, "bigints on the heap").toBeLessThan(200);
    // The user_id index holds each user's 10 session ids in an exactly sized array (key-index.ts),
    // not a Set: a Set per user would be 2,000 of them. What remains is the runtime's own.
    expect(result.sets, "Sets on the heap").toBeLessThan(200);
    // Versions read back exact, on both sides of the limit.
    expect(result.small).toBe("7");
    expect(result.big).toBe(String(2n ** 53n + 1n));
  });
});
