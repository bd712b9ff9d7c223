/**
 * Record builders for the contract suite. Data are real Pomerium messages (session.Session,
 * user.User), because Pomerium on Postgres stores protojson and refuses types it does not know.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

import {
  RecordSchema,
  type DataBrokerService,
  type Record as DbRecord,
  type SyncLatestResponse,
  type SyncResponse,
} from "../../gen/databroker/databroker_pb.js";
import { SessionSchema, type Session } from "../../gen/session/session_pb.js";
import { UserSchema, type User } from "../../gen/user/user_pb.js";
import type { Client } from "@connectrpc/connect";

export const SESSION_TYPE = "type.googleapis.com/session.Session";
export const USER_TYPE = "type.googleapis.com/user.User";

/** The defaults Pomerium applies when a backend is created (spec section 7). */
export const DEFAULT_OPTION_TYPES = {
  sessionBindingRequest: "type.googleapis.com/session.SessionBindingRequest",
  sessionBinding: "type.googleapis.com/session.SessionBinding",
  identityBinding: "type.googleapis.com/session.IdentityBinding",
  upstreamMcpToken: "type.googleapis.com/oauth21.UpstreamMCPToken",
  pendingUpstreamAuth: "type.googleapis.com/oauth21.PendingUpstreamAuth",
} as const;

export function sessionRecord(id: string, session: MessageInitShape<typeof SessionSchema> = {}): DbRecord {
  return create(RecordSchema, {
    type: SESSION_TYPE,
    id,
    data: anyPack(SessionSchema, create(SessionSchema, { id, ...session })),
  });
}

export function userRecord(id: string, user: MessageInitShape<typeof UserSchema> = {}): DbRecord {
  return create(RecordSchema, {
    type: USER_TYPE,
    id,
    data: anyPack(UserSchema, create(UserSchema, { id, ...user })),
  });
}

/** A Put that deletes (type, id): the record carries deleted_at. */
export function deletion(type: string, id: string, deletedAt: Date = new Date()): DbRecord {
  return create(RecordSchema, { type, id, deletedAt: timestampFromDate(deletedAt) });
}

export function sessionOf(record: DbRecord | undefined): Session {
  const data = record?.data;
  if (data === undefined) throw new Error("record has no data");
  const session = anyUnpack(data, SessionSchema);
  if (session === undefined) throw new Error(`record data is ${data.typeUrl}, not a session`);
  return session;
}

export function userOf(record: DbRecord | undefined): User {
  const data = record?.data;
  if (data === undefined) throw new Error("record has no data");
  const user = anyUnpack(data, UserSchema);
  if (user === undefined) throw new Error(`record data is ${data.typeUrl}, not a user`);
  return user;
}

export function ms(ts: Timestamp | undefined): number {
  if (ts === undefined) throw new Error("timestamp is unset");
  return timestampDate(ts).getTime();
}

type Db = Client<typeof DataBrokerService>;

/** Puts the records in one request and returns the stored records (request order). */
export async function put(db: Db, ...records: DbRecord[]): Promise<DbRecord[]> {
  const res = await db.put({ records });
  return res.records;
}

/** Reads a whole SyncLatest stream. */
export async function syncLatest(db: Db, type = ""): Promise<SyncLatestResponse[]> {
  const out: SyncLatestResponse[] = [];
  for await (const msg of db.syncLatest({ type })) out.push(msg);
  return out;
}

/** The live records SyncLatest returns, in stream order. */
export async function latestRecords(db: Db, type = ""): Promise<DbRecord[]> {
  return (await syncLatest(db, type)).flatMap((m) => (m.response.case === "record" ? [m.response.value] : []));
}

/** Reads a Sync with wait=false to its end. */
export async function syncBacklog(
  db: Db,
  req: { serverVersion: bigint; recordVersion: bigint; type?: string },
): Promise<SyncResponse[]> {
  const out: SyncResponse[] = [];
  for await (const msg of db.sync({ type: "", ...req, wait: false })) out.push(msg);
  return out;
}

export function recordsOf(msgs: readonly (SyncResponse | SyncLatestResponse)[]): DbRecord[] {
  return msgs.flatMap((m) => (m.response.case === "record" ? [m.response.value] : []));
}

export async function serverVersion(db: Db): Promise<bigint> {
  return (await db.serverInfo({})).serverVersion;
}
