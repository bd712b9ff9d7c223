/** Helpers for the snapshot-file tests: synthetic content, and reading a file to its end. */
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { protoFingerprint, type SnapshotIdentity } from "../../src/snapshot-file/snapshot-header.js";
import { openSnapshotFile } from "../../src/snapshot-file/snapshot-reader.js";
import type { SnapshotItem } from "../../src/snapshot-file/snapshot-writer.js";

export const IDENTITY: SnapshotIdentity = { protoFingerprint: protoFingerprint(), projection: "full", types: [SESSION_TYPE] };

/** `count` records of `size` bytes each, all stamped with `generation` (so a reader can tell writes apart). */
export function* syntheticContent(generation: number, count: number, size: number, onRecord?: (index: number) => void): Generator<SnapshotItem, void, void> {
  yield { kind: "section", section: { type: SESSION_TYPE, serverVersion: 2n ** 63n + 5n, recordVersion: BigInt(generation), options: new Map() } };
  for (let i = 0; i < count; i++) {
    onRecord?.(i);
    const data = new Uint8Array(size).fill(generation & 0xff);
    yield { kind: "record", record: { type: SESSION_TYPE, id: `s-${i}`, version: BigInt(i + 1), modifiedAt: undefined, typeUrl: SESSION_TYPE, data } };
  }
  yield { kind: "sectionEnd" };
}

export interface ReadBack {
  readonly generation: bigint;
  readonly records: number;
  /** Every record carries the generation's bytes. */
  readonly consistent: boolean;
}

/** Reads a snapshot to its end. @throws SnapshotRejectedError when it cannot be used */
export async function readBack(path: string, key: Uint8Array, identity: SnapshotIdentity = IDENTITY): Promise<ReadBack> {
  const file = await openSnapshotFile({ path, key, identity });
  let generation = -1n;
  let records = 0;
  let consistent = true;
  try {
    for await (const entry of file.entries()) {
      if (entry.kind === "section") generation = entry.section.recordVersion;
      if (entry.kind === "records") {
        for (const r of entry.records) {
          records++;
          if (r.data.some((b) => b !== Number(generation & 0xffn))) consistent = false;
        }
      }
    }
  } finally {
    await file.close();
  }
  return { generation, records, consistent };
}
