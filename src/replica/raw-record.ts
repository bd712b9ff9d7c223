/** Conversions between the generated Record message and the replica's {@link RawRecord}. */
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { RecordSchema, type Record } from "../../gen/databroker/databroker_pb.js";
import type { RawRecord } from "./replica-events.js";

/** Flattens a decoded Record, copying the data bytes so no network buffer stays pinned. */
export function rawRecordFromRecord(record: Record): RawRecord {
  const view = rawRecordView(record);
  return { ...view, data: view.data.slice() };
}

/**
 * Flattens a decoded Record WITHOUT copying: `data` stays a view into the network buffer. For
 * the sync loop, whose records go straight into the replica, which copies the bytes it keeps
 * into its slabs (byte-slab.ts) and drops the view, so nothing pins the buffer.
 */
export function rawRecordView(record: Record): RawRecord {
  const data = record.data;
  return {
    type: record.type,
    id: record.id,
    version: record.version,
    modifiedAt: record.modifiedAt,
    deletedAt: record.deletedAt,
    typeUrl: data === undefined ? "" : data.typeUrl,
    data: data === undefined ? EMPTY : data.value,
  };
}

const EMPTY = new Uint8Array(0);

/** Builds a generated Record (live, no deleted_at) from stored fields; used by local queries. */
export function recordMessage(
  type: string,
  id: string,
  version: bigint,
  modifiedAt: Record["modifiedAt"],
  typeUrl: string,
  data: Uint8Array,
): Record {
  return create(RecordSchema, {
    type,
    id,
    version,
    modifiedAt,
    data: create(AnySchema, { typeUrl, value: data }),
  });
}
