/**
 * Protobuf JSON for what the CLI prints. The registry knows our generated types, so an Any
 * holding a session or user prints as its fields (with "@type"), not as base64.
 */
import { toJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import { QueryResponseSchema, RecordSchema, type QueryResponse, type Record } from "../../gen/databroker/databroker_pb.js";
import { recordRegistry } from "../records/record-registry.js";
import type { CachedRecord } from "../replica/cached-record.js";
import type { CacheChange } from "../cache/change-buffer.js";

export function recordJson(record: Record): JsonValue {
  return toJson(RecordSchema, record, { registry: recordRegistry });
}

export function queryResponseJson(response: QueryResponse): JsonValue {
  return toJson(QueryResponseSchema, response, { registry: recordRegistry });
}

/** A decoded message as JSON, or null when the SDK cannot decode its type. */
export function messageJson(message: Message | undefined): JsonValue {
  if (message === undefined) return null;
  const schema = recordRegistry.getMessage(message.$typeName);
  return schema === undefined ? null : toJson(schema, message, { registry: recordRegistry });
}

function cachedRecordJson(record: CachedRecord, withData: boolean): JsonValue {
  const out: { [key: string]: JsonValue } = { id: record.id, version: record.version.toString() };
  const modifiedAt = record.modifiedAt;
  if (modifiedAt !== undefined) out["modifiedAt"] = new Date(Number(modifiedAt.seconds) * 1000 + Math.floor(modifiedAt.nanos / 1e6)).toISOString();
  if (withData) {
    out["typeUrl"] = record.typeUrl;
    out["data"] = messageJson(record.message);
  }
  return out;
}

/** One change batch (or overflow marker) as one JSON object: what `watch` prints per line. */
export function changeJson(change: CacheChange): JsonValue {
  if (change.kind === "overflow") return { kind: "overflow", type: change.type ?? "", droppedBatches: change.droppedBatches };
  return {
    kind: change.kind,
    type: change.type,
    serverVersion: change.serverVersion.toString(),
    recordVersion: change.recordVersion.toString(),
    upserts: change.upserts.map((r) => cachedRecordJson(r, true)),
    deletes: change.deletes.map((r) => cachedRecordJson(r, false)),
  };
}
