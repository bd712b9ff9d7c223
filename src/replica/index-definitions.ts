/**
 * Named index functions: the built-in ones (sessions and service accounts by user_id, users by
 * email) read one string field straight from the wire bytes; the host can add its own.
 */
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../records/type-urls.js";
import { scanRecordStringField, type CachedRecord } from "./cached-record.js";

/**
 * Computes a record's keys for one index: a string, several strings, or undefined for none.
 * Must be a pure function of the record (it is called again on update and delete to find the
 * old keys, so the replica does not have to store them).
 */
export type IndexFunction = (record: CachedRecord) => string | readonly string[] | undefined;

export interface IndexDefinition {
  readonly name: string;
  readonly keys: IndexFunction;
}

/** A wire-scan index on one top-level string field of one message type; "" is not indexed. */
function stringFieldIndex(name: string, dataTypeUrl: string, fieldNumber: number): IndexDefinition {
  return {
    name,
    keys: (record) => {
      if (record.typeUrl !== dataTypeUrl) return undefined;
      const value = scanRecordStringField(record, fieldNumber);
      return value === "" ? undefined : value;
    },
  };
}

/** Index names of the built-in indexes. */
export const USER_ID_INDEX = "user_id";
export const EMAIL_INDEX = "email";

/** Session.user_id is field 3, User.email field 4, ServiceAccount.user_id field 2 (spec 1.3, 1.4). */
export function builtInIndexes(type: string): IndexDefinition[] {
  switch (type) {
    case SESSION_TYPE:
      return [stringFieldIndex(USER_ID_INDEX, SESSION_TYPE, 3)];
    case USER_TYPE:
      return [stringFieldIndex(EMAIL_INDEX, USER_TYPE, 4)];
    case SERVICE_ACCOUNT_TYPE:
      return [stringFieldIndex(USER_ID_INDEX, SERVICE_ACCOUNT_TYPE, 2)];
    default:
      return [];
  }
}

/** Calls `fn` for each key `def` gives `record`. */
export function forEachKey(def: IndexDefinition, record: CachedRecord, fn: (key: string) => void): void {
  const keys = def.keys(record);
  if (keys === undefined) return;
  if (typeof keys === "string") fn(keys);
  else for (const k of keys) fn(k);
}
