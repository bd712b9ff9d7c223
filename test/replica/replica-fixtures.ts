/** Builders for replica tests: real encoded Session/User/... messages as RawRecords. */
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { OptionsSchema, type Options } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import type { ChangeEvent, RawRecord, SnapshotEvent } from "../../src/replica/replica-events.js";

export const SV = 0xfeed_beef_dead_cafen; // above 2^53, as real server versions are

export function raw<D extends DescMessage>(
  schema: D,
  type: string,
  id: string,
  version: bigint,
  init: MessageInitShape<D>,
  extra: Partial<RawRecord> = {},
): RawRecord {
  return {
    type,
    id,
    version,
    modifiedAt: timestampFromMs(1_700_000_000_000),
    typeUrl: `type.googleapis.com/${schema.typeName}`,
    data: toBinary(schema, create(schema, init)),
    ...extra,
  };
}

export function sessionRecord(id: string, version: bigint, userId: string, extra: MessageInitShape<typeof SessionSchema> = {}): RawRecord {
  return raw(SessionSchema, SESSION_TYPE, id, version, { id, userId, ...extra });
}

export function userRecord(id: string, version: bigint, email: string, name = ""): RawRecord {
  return raw(UserSchema, USER_TYPE, id, version, { id, email, name });
}

export function tombstone(type: string, id: string, version: bigint): RawRecord {
  return { type, id, version, typeUrl: "", data: new Uint8Array(0), deletedAt: timestampFromMs(1_700_000_000_000) };
}

export function snapshot(
  type: string,
  records: RawRecord[],
  recordVersion: bigint,
  serverVersion = SV,
  options: ReadonlyMap<string, Options> = new Map(),
): SnapshotEvent {
  return { kind: "snapshot", type, serverVersion, recordVersion, records, options };
}

export function change(records: RawRecord[], serverVersion = SV): ChangeEvent {
  return { kind: "change", serverVersion, records };
}

export function options(indexableFields: string[]): Options {
  return create(OptionsSchema, { indexableFields });
}

export function ids(records: readonly { id: string }[]): string[] {
  return records.map((r) => r.id).sort();
}
