/**
 * What copying a record's bytes into a slab costs when the slab's memory is fresh (never touched:
 * the kernel maps a page on its first write) against a slab that is reused (already mapped):
 * 1,900-byte records into 1 MB slabs, the replica's sizes (src/replica/byte-slab.ts). The
 * difference is the page faults the replica pays for every new slab on the main thread during a
 * sync, whatever the code around it does.
 *
 *   npx tsx bench/fresh-memory-cost.ts [--records 200000] [--rounds 3]
 *
 * Prints one JSON line: median ns per record for each, over alternating rounds.
 */
import { parseArgs } from "node:util";
import { median } from "./stats.js";

const { values } = parseArgs({ options: { records: { type: "string", default: "200000" }, rounds: { type: "string", default: "3" } } });
const RECORDS = Number(values.records);
const ROUNDS = Number(values.rounds);
const RECORD_BYTES = 1900;
const SLAB_BYTES = 1 << 20;

const source = new Uint8Array(RECORD_BYTES).fill(7);

function fresh(): Uint8Array {
  const b = Buffer.allocUnsafeSlow(SLAB_BYTES);
  return new Uint8Array(b.buffer, b.byteOffset, SLAB_BYTES);
}

/** ns per record; `slabFor` gives the next slab. Fresh slabs are kept, as the replica keeps them. */
function copyAll(slabFor: () => Uint8Array): number {
  const kept: Uint8Array[] = [];
  let slab = slabFor();
  let used = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < RECORDS; i++) {
    if (used + RECORD_BYTES > SLAB_BYTES) {
      kept.push(slab);
      slab = slabFor();
      used = 0;
    }
    slab.set(source, used);
    used += RECORD_BYTES;
  }
  const ns = Number(process.hrtime.bigint() - start) / RECORDS;
  if (kept.length === 0 && used === 0) throw new Error("nothing copied");
  return ns;
}

const reused = fresh();
reused.fill(0); // mapped once, before any timing
const freshNs: number[] = [];
const reusedNs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  freshNs.push(copyAll(fresh));
  reusedNs.push(copyAll(() => reused));
}
process.stdout.write(
  `${JSON.stringify({ records: RECORDS, recordBytes: RECORD_BYTES, slabBytes: SLAB_BYTES, freshNsPerRecord: Math.round(median(freshNs)), reusedNsPerRecord: Math.round(median(reusedNs)), freshRounds: freshNs.map(Math.round), reusedRounds: reusedNs.map(Math.round) })}\n`,
);
