/**
 * The file format detects every change: any single flipped byte in each region (clear-text
 * prefix, header, a chunk's length, a chunk's ciphertext, a tag), a cut at any point, two chunks
 * swapped, appended bytes, and a wrong key are each rejected, before anything is handed out as
 * final. fast-check drives the positions.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_PLAINTEXT_BYTES, TAG_BYTES } from "../../src/snapshot-file/chunk-cipher.js";
import { PREFIX_BYTES } from "../../src/snapshot-file/snapshot-header.js";
import { SnapshotRejectedError } from "../../src/snapshot-file/snapshot-rejection.js";
import { writeSnapshotFile } from "../../src/snapshot-file/snapshot-writer.js";
import { IDENTITY, readBack, syntheticContent } from "./snapshot-fixtures.js";

const KEY = new Uint8Array(32).fill(3);
let folder: string;
let original: Buffer;
let path: string;
/** [start, end) of each region of the original file. */
const regions: Record<string, [number, number]> = {};
const chunkStarts: number[] = [];

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "snapshot-tamper-"));
  const source = join(folder, "original.bin");
  // 12 records of 20 KB: about 4 chunks of 64 KiB.
  await writeSnapshotFile(syntheticContent(7, 12, 20_000), { path: source, key: KEY, identity: IDENTITY });
  original = await readFile(source);
  path = join(folder, "spoiled.bin");
  const headerEnd = PREFIX_BYTES + original.readUInt32BE(10);
  regions.prefix = [0, PREFIX_BYTES];
  regions.header = [PREFIX_BYTES, headerEnd];
  for (let at = headerEnd; at < original.length; at += 4 + original.readUInt32BE(at)) chunkStarts.push(at);
  const first = chunkStarts[0]!;
  const firstLength = original.readUInt32BE(first);
  regions.chunkLength = [first, first + 4];
  regions.ciphertext = [first + 4, first + 4 + firstLength - TAG_BYTES];
  regions.tag = [first + 4 + firstLength - TAG_BYTES, first + 4 + firstLength];
  const last = chunkStarts.at(-1)!;
  regions.lastChunk = [last, original.length];
});
afterAll(() => rm(folder, { recursive: true, force: true }));

async function rejected(bytes: Uint8Array, key = KEY): Promise<string | undefined> {
  await writeFile(path, bytes);
  try {
    await readBack(path, key);
    return undefined;
  } catch (error) {
    if (error instanceof SnapshotRejectedError) return error.reason;
    throw error;
  }
}

describe("snapshot file tampering", () => {
  it("the untouched file reads back whole (the property below is not vacuous)", async () => {
    expect(chunkStarts.length).toBeGreaterThanOrEqual(4);
    expect(original.readUInt32BE(chunkStarts[1]!)).toBe(CHUNK_PLAINTEXT_BYTES + TAG_BYTES);
    expect(await rejected(original)).toBeUndefined();
    expect(await readBack(path, KEY)).toEqual({ generation: 7n, records: 12, consistent: true });
  });

  it("a single flipped byte in any region is rejected", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(regions)), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 }), async (region, where, mask) => {
        const [start, end] = regions[region]!;
        const at = start + Math.floor(where * (end - start));
        const spoiled = Buffer.from(original);
        spoiled[at]! ^= mask;
        expect(await rejected(spoiled), `${region} byte ${at}`).toBeDefined();
      }),
      { numRuns: 150 },
    );
  });

  it("a file cut at any point is rejected", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: original.length - 1 }), async (length) => {
        expect(await rejected(original.subarray(0, length)), `cut at ${length}`).toBeDefined();
      }),
      { numRuns: 100 },
    );
    // At each chunk boundary exactly: the final chunk seen was sealed as a middle one.
    for (const at of chunkStarts.slice(1)) expect(await rejected(original.subarray(0, at))).toBe("truncated");
  });

  it("swapped or repeated chunks, and bytes appended, are rejected", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: chunkStarts.length - 2 }), fc.integer({ min: 0, max: chunkStarts.length - 2 }), async (a, b) => {
        fc.pre(a !== b);
        const chunk = (i: number) => original.subarray(chunkStarts[i]!, chunkStarts[i + 1] ?? original.length);
        const order = chunkStarts.map((_, i) => (i === a ? b : i === b ? a : i));
        const swapped = Buffer.concat([original.subarray(0, chunkStarts[0]!), ...order.map(chunk)]);
        expect(await rejected(swapped)).toBe("tampered");
        const repeated = Buffer.concat([original.subarray(0, chunkStarts[a + 1]!), chunk(a), original.subarray(chunkStarts[a + 1]!)]);
        expect(await rejected(repeated)).toBeDefined();
      }),
      { numRuns: 20 },
    );
    expect(await rejected(Buffer.concat([original, original.subarray(chunkStarts[1]!, chunkStarts[2]!)]))).toBe("tampered");
  });

  it("a wrong key is rejected as such, before any chunk is opened", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), async (key) => {
        fc.pre(!key.every((b, i) => b === KEY[i]));
        expect(await rejected(original, key)).toBe("key");
      }),
      { numRuns: 30 },
    );
  });
});
