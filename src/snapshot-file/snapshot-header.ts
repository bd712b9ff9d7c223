/**
 * The snapshot file's clear-text prefix: magic, format version, header length, and the header
 * itself (FORMAT.md). All of it is the associated data of every chunk, so none of it can be
 * changed without every chunk failing to open. It holds no secret: a random salt and nonce
 * prefix, the key check, the creation time, the protos' fingerprint, the projection's name and
 * the mirrored types.
 */
import { createHash, randomBytes } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { file_databroker_databroker } from "../../gen/databroker/databroker_pb.js";
import { file_session_session } from "../../gen/session/session_pb.js";
import { file_user_user } from "../../gen/user/user_pb.js";
import { ByteReader, ByteWriter, INCOMPLETE, MalformedContentError } from "./byte-codec.js";
import { NONCE_PREFIX_BYTES } from "./chunk-cipher.js";
import { SnapshotRejectedError } from "./snapshot-rejection.js";

export const SNAPSHOT_MAGIC = new TextEncoder().encode("PDBCSNAP");
/** Bumped whenever the layout changes; a file of another version is rejected as "format". */
export const SNAPSHOT_FORMAT_VERSION = 1;
/** magic (8) + format version (2) + header length (4). */
export const PREFIX_BYTES = 14;
export const MAX_HEADER_BYTES = 64 * 1024;
export const SALT_BYTES = 16;
export const KEY_CHECK_BYTES = 16;

/** What a snapshot was written for; a reader compares it with its own before decrypting anything. */
export interface SnapshotIdentity {
  /** SHA-256 of the databroker, session and user proto descriptors the records were encoded with. */
  readonly protoFingerprint: Uint8Array;
  /** "full", "lean", or the host's name for its own projection. */
  readonly projection: string;
  /** The mirrored types, in the cache's order ("" = every type). */
  readonly types: readonly string[];
}

export interface SnapshotHeader extends SnapshotIdentity {
  readonly salt: Uint8Array;
  readonly noncePrefix: Uint8Array;
  readonly keyCheck: Uint8Array;
  /** Date.now() when the write started. */
  readonly createdAt: number;
}

let fingerprint: Uint8Array | undefined;

/** The fingerprint of the protos this build encodes records with. */
export function protoFingerprint(): Uint8Array {
  if (fingerprint === undefined) {
    const hash = createHash("sha256");
    for (const file of [file_databroker_databroker, file_session_session, file_user_user]) hash.update(toBinary(FileDescriptorProtoSchema, file.proto));
    fingerprint = new Uint8Array(hash.digest());
  }
  return fingerprint;
}

/** Fresh per-file randomness: the salt of the file's keys and the chunks' nonce prefix. */
export function freshFileRandomness(): { salt: Uint8Array; noncePrefix: Uint8Array } {
  return { salt: new Uint8Array(randomBytes(SALT_BYTES)), noncePrefix: new Uint8Array(randomBytes(NONCE_PREFIX_BYTES)) };
}

/** The whole clear-text prefix (the chunks' associated data). */
export function encodeHeader(header: SnapshotHeader): Uint8Array {
  const body = new ByteWriter(256);
  body.raw(header.salt);
  body.raw(header.noncePrefix);
  body.raw(header.keyCheck);
  body.varint(header.createdAt);
  body.bytes(header.protoFingerprint);
  body.string(header.projection);
  body.varint(header.types.length);
  for (const type of header.types) body.string(type);
  const bytes = body.view();
  const out = new Uint8Array(PREFIX_BYTES + bytes.length);
  out.set(SNAPSHOT_MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint16(8, SNAPSHOT_FORMAT_VERSION);
  view.setUint32(10, bytes.length);
  out.set(bytes, PREFIX_BYTES);
  return out;
}

/** The header length the prefix announces. @throws SnapshotRejectedError "format" */
export function headerLength(prefix: Uint8Array): number {
  if (prefix.length < PREFIX_BYTES || !SNAPSHOT_MAGIC.every((b, i) => prefix[i] === b)) throw new SnapshotRejectedError("format", "not a databroker-cache snapshot file");
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const version = view.getUint16(8);
  if (version !== SNAPSHOT_FORMAT_VERSION) throw new SnapshotRejectedError("format", `snapshot format version ${version}, this build reads ${SNAPSHOT_FORMAT_VERSION}`);
  const length = view.getUint32(10);
  if (length > MAX_HEADER_BYTES) throw new SnapshotRejectedError("format", "snapshot header too long");
  return length;
}

/** Parses the header that follows a checked prefix. @throws SnapshotRejectedError "format" */
export function decodeHeader(bytes: Uint8Array): SnapshotHeader {
  const r = new ByteReader(bytes);
  try {
    const header: SnapshotHeader = {
      salt: r.raw(SALT_BYTES),
      noncePrefix: r.raw(NONCE_PREFIX_BYTES),
      keyCheck: r.raw(KEY_CHECK_BYTES),
      createdAt: r.varint(),
      protoFingerprint: r.bytes(),
      projection: r.string(),
      types: Array.from({ length: r.varint() }, () => r.string()),
    };
    if (r.remaining !== 0) throw new MalformedContentError("trailing header bytes");
    return header;
  } catch (error) {
    if (error === INCOMPLETE || error instanceof MalformedContentError) throw new SnapshotRejectedError("format", "snapshot header does not parse");
    throw error;
  }
}

/** Why a header written for another cache does not fit this one; undefined when it fits. */
export function identityMismatch(header: SnapshotIdentity, expected: SnapshotIdentity): string | undefined {
  if (!sameBytes(header.protoFingerprint, expected.protoFingerprint)) return "written with other protos";
  if (header.projection !== expected.projection) return `written with projection "${header.projection}", this cache uses "${expected.projection}"`;
  if (header.types.length !== expected.types.length || header.types.some((t, i) => t !== expected.types[i])) return "written for another set of mirrored types";
  return undefined;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
