/**
 * Why a snapshot file was not used. Each reason is a metric attribute and part of one log line;
 * none carries a secret or record contents.
 */
export const SNAPSHOT_REJECTION_REASONS = [
  /** No file at the path (a first start): not counted as a rejection, only as a cold start. */
  "missing",
  /** Not a snapshot file, or one of another format version. */
  "format",
  /** Written for other protos, another projection, or another set of mirrored types. */
  "mismatch",
  /** Older than `maxAgeMs`. */
  "expired",
  /** Encrypted under another key (another shared secret, or another host key). */
  "key",
  /** A chunk failed authentication, or the content does not parse: the bytes were changed. */
  "tampered",
  /** The file ends before its last chunk. */
  "truncated",
  /** The file could not be read (permissions, I/O error). */
  "unreadable",
  /** The server no longer has the saved position (another server version, a compacted log). */
  "aborted",
] as const;

export type SnapshotRejectionReason = (typeof SNAPSHOT_REJECTION_REASONS)[number];

/** A snapshot that cannot be used, and why. The message never holds key material or record data. */
export class SnapshotRejectedError extends Error {
  override readonly name = "SnapshotRejectedError";
  constructor(
    readonly reason: SnapshotRejectionReason,
    message: string,
  ) {
    super(message);
  }
}
