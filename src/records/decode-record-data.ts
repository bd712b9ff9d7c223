/**
 * Decoding a record's data (the Any value bytes) into a typed message.
 * Malformed bytes and unknown type URLs give undefined rather than an error: a cache read must
 * never throw because one record is bad.
 */
import type { Message } from "@bufbuild/protobuf";
import { SessionSchema, type Session } from "../../gen/session/session_pb.js";
import { ServiceAccountSchema, UserSchema, type ServiceAccount, type User } from "../../gen/user/user_pb.js";
import { decodeMessageData } from "./record-data-decoder.js";
import { schemaForTypeUrl } from "./record-registry.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "./type-urls.js";

/** Decodes data of any type the SDK knows; undefined for unknown types or malformed bytes. */
export function decodeRecordData(typeUrl: string, bytes: Uint8Array): Message | undefined {
  const schema = schemaForTypeUrl(typeUrl);
  if (schema === undefined) return undefined;
  try {
    // fromBinary's result, built by a compiled decoder where it can (record-data-decoder.ts).
    return decodeMessageData(schema, bytes);
  } catch {
    return undefined;
  }
}

export function decodeSession(typeUrl: string, bytes: Uint8Array): Session | undefined {
  return typeUrl === SESSION_TYPE ? (decodeRecordData(typeUrl, bytes) as Session | undefined) : undefined;
}

export function decodeUser(typeUrl: string, bytes: Uint8Array): User | undefined {
  return typeUrl === USER_TYPE ? (decodeRecordData(typeUrl, bytes) as User | undefined) : undefined;
}

export function decodeServiceAccount(typeUrl: string, bytes: Uint8Array): ServiceAccount | undefined {
  return typeUrl === SERVICE_ACCOUNT_TYPE ? (decodeRecordData(typeUrl, bytes) as ServiceAccount | undefined) : undefined;
}

/** Type guards on a decoded message, by its protobuf-es `$typeName`. */
export function isSession(message: Message | undefined): message is Session {
  return message?.$typeName === SessionSchema.typeName;
}
export function isUser(message: Message | undefined): message is User {
  return message?.$typeName === UserSchema.typeName;
}
export function isServiceAccount(message: Message | undefined): message is ServiceAccount {
  return message?.$typeName === ServiceAccountSchema.typeName;
}
