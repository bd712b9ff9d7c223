/**
 * Reads a snapshot file as a stream: the clear-text prefix is checked first (format, identity,
 * age, key) without decrypting anything; then each chunk is read, authenticated and opened in
 * turn, and its plaintext parsed into entries, so only one chunk (and one entry cut by a chunk
 * boundary) is in memory at a time. Entries are handed out as they are authenticated; the
 * caller must not make them take effect before the iteration completes, since only the final
 * chunk proves that nothing was cut off (see chunk-cipher.ts).
 */
import { timingSafeEqual } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { MAX_SEALED_CHUNK_BYTES, openChunk } from "./chunk-cipher.js";
import { fileKeys } from "./snapshot-key.js";
import { MalformedContentError } from "./byte-codec.js";
import { BodyDecoder, type BodyEntry } from "./snapshot-body.js";
import { PREFIX_BYTES, SNAPSHOT_MAGIC, decodeHeader, headerLength, identityMismatch, type SnapshotHeader, type SnapshotIdentity } from "./snapshot-header.js";
import { SnapshotRejectedError } from "./snapshot-rejection.js";

export interface SnapshotReadOptions {
  readonly path: string;
  readonly key: Uint8Array;
  readonly identity: SnapshotIdentity;
  /** Reject a snapshot written longer ago than this. */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

export interface SnapshotFile {
  readonly header: SnapshotHeader;
  /** How old the snapshot is (now - its creation time), at open. */
  readonly ageMs: number;
  /** The entries, authenticated chunk by chunk. @throws SnapshotRejectedError "tampered" or "truncated" */
  entries(): AsyncGenerator<BodyEntry, void, void>;
  close(): Promise<void>;
}

/** @throws SnapshotRejectedError with why the file cannot be used */
export async function openSnapshotFile(options: SnapshotReadOptions): Promise<SnapshotFile> {
  let handle: FileHandle;
  try {
    handle = await open(options.path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new SnapshotRejectedError("missing", "no snapshot file");
    throw new SnapshotRejectedError("unreadable", `snapshot file cannot be read (${code ?? "error"})`);
  }
  try {
    return await openHandle(handle, options);
  } catch (error) {
    await handle.close().catch(() => undefined);
    if (error instanceof SnapshotRejectedError) throw error;
    throw new SnapshotRejectedError("unreadable", `snapshot file cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

async function openHandle(handle: FileHandle, options: SnapshotReadOptions): Promise<SnapshotFile> {
  const size = (await handle.stat()).size;
  const prefix = await readAt(handle, 0, PREFIX_BYTES);
  if (prefix.length < PREFIX_BYTES) {
    const startsLikeOurs = prefix.length > 0 && prefix.every((b, i) => i >= SNAPSHOT_MAGIC.length || SNAPSHOT_MAGIC[i] === b);
    throw new SnapshotRejectedError(startsLikeOurs ? "truncated" : "format", startsLikeOurs ? "snapshot file ends inside its header" : "not a databroker-cache snapshot file");
  }
  const length = headerLength(prefix);
  const headerBytes = await readAt(handle, PREFIX_BYTES, length);
  if (headerBytes.length < length) throw new SnapshotRejectedError("truncated", "snapshot file ends inside its header");
  const header = decodeHeader(headerBytes);
  const mismatch = identityMismatch(header, options.identity);
  if (mismatch !== undefined) throw new SnapshotRejectedError("mismatch", `snapshot ${mismatch}`);
  const ageMs = (options.now ?? Date.now)() - header.createdAt;
  if (options.maxAgeMs !== undefined && ageMs > options.maxAgeMs) {
    throw new SnapshotRejectedError("expired", `snapshot is ${Math.round(ageMs / 1000)} s old, more than maxAgeMs (${Math.round(options.maxAgeMs / 1000)} s)`);
  }
  const { chunkKey, keyCheck } = fileKeys(options.key, header.salt);
  if (!timingSafeEqual(keyCheck, header.keyCheck)) throw new SnapshotRejectedError("key", "snapshot was encrypted under another key (another shared secret or snapshot key)");
  const aad = new Uint8Array(PREFIX_BYTES + length);
  aad.set(prefix, 0);
  aad.set(headerBytes, PREFIX_BYTES);

  async function* entries(): AsyncGenerator<BodyEntry, void, void> {
    const decoder = new BodyDecoder();
    const blocks = new BlockReader(handle, size);
    let position = PREFIX_BYTES + length;
    for (let index = 0; ; index++) {
      if (position >= size) throw new SnapshotRejectedError("truncated", "snapshot file ends before its last chunk");
      const lengthBytes = await blocks.read(position, 4);
      if (lengthBytes.length < 4) throw new SnapshotRejectedError("truncated", "snapshot file ends inside a chunk");
      const sealedLength = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 4).getUint32(0);
      if (sealedLength > MAX_SEALED_CHUNK_BYTES) throw new SnapshotRejectedError("tampered", `snapshot chunk ${index} announces an impossible length`);
      const sealed = await blocks.read(position + 4, sealedLength);
      if (sealed.length < sealedLength) throw new SnapshotRejectedError("truncated", "snapshot file ends inside a chunk");
      position += 4 + sealedLength;
      const last = position === size;
      const plaintext = openChunk(chunkKey, header.noncePrefix, aad, index, last, sealed);
      if (plaintext === undefined) {
        // A final chunk that opens as a middle one: the file was cut at a chunk boundary.
        if (last && openChunk(chunkKey, header.noncePrefix, aad, index, false, sealed) !== undefined) {
          throw new SnapshotRejectedError("truncated", "snapshot file ends before its last chunk");
        }
        throw new SnapshotRejectedError("tampered", `snapshot chunk ${index} failed authentication`);
      }
      let decoded: BodyEntry[];
      try {
        decoded = decoder.feed(plaintext);
      } catch (error) {
        if (error instanceof MalformedContentError) throw new SnapshotRejectedError("tampered", `snapshot content does not parse (${error.message})`);
        throw error;
      }
      yield* decoded;
      if (last) {
        if (!decoder.ended || !decoder.settled) throw new SnapshotRejectedError("truncated", "snapshot content ends early");
        return;
      }
    }
  }

  return { header, ageMs, entries, close: () => handle.close() };
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** Sequential reads through one block buffer (a few reads per MiB instead of two per chunk). */
class BlockReader {
  #block: Uint8Array = new Uint8Array(0);
  #blockStart = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
  ) {}

  /** `length` bytes at `position` (fewer at the end of the file); a view valid until the next read. */
  async read(position: number, length: number): Promise<Uint8Array> {
    const end = position + length;
    if (position < this.#blockStart || end > this.#blockStart + this.#block.length) {
      const want = Math.min(Math.max(length, READ_BLOCK_BYTES), Math.max(0, this.size - position));
      this.#block = await readAt(this.handle, position, want);
      this.#blockStart = position;
    }
    const from = position - this.#blockStart;
    return this.#block.subarray(from, Math.min(from + length, this.#block.length));
  }
}

const READ_BLOCK_BYTES = 1 << 20;
