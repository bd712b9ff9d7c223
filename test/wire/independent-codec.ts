/**
 * An encoder/decoder that shares nothing with our generated code: protobufjs parsing the .proto
 * files in proto/ at runtime (well-known types from protobufjs' bundled copies). Used to check
 * that what our generated code writes is what the .proto text means, and to drive servers from
 * an independent client.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

export const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
export const PROTO_FILES = ["databroker/databroker.proto", "session/session.proto", "user/user.proto"] as const;
/** Where protobufjs keeps its bundled google/protobuf/*.proto files. */
export const PROTOBUFJS_DIR = path.dirname(createRequire(import.meta.url).resolve("protobufjs/package.json"));

let cached: protobuf.Root | undefined;

/** Every message of our protos, parsed by protobufjs (keepCase: field names as in the .proto). */
export function independentRoot(): protobuf.Root {
  if (cached !== undefined) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
  root.loadSync([...PROTO_FILES], { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}

export function messageType(fullName: string): protobuf.Type {
  return independentRoot().lookupType(fullName);
}

/**
 * Plain-object view with 64-bit integers as decimal strings and bytes as base64, for comparisons.
 * Our messages keep their .proto field names; protobufjs' bundled google.protobuf.Value uses
 * camelCase member names (stringValue, listValue, ...).
 */
export const PLAIN: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: false,
  // No virtual oneof fields: a set member shows up as its own key, even with a zero value.
  oneofs: false,
};

export function encodeIndependently(fullName: string, plain: Record<string, unknown>): Uint8Array {
  const type = messageType(fullName);
  // fromObject (not verify) so 64-bit values can be given as decimal strings.
  return type.encode(type.fromObject(plain)).finish();
}

export function decodeIndependently(fullName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = messageType(fullName);
  return type.toObject(type.decode(bytes), PLAIN) as Record<string, unknown>;
}
