/**
 * Writes a snapshot file so that the path always holds either the previous complete file or the
 * new complete one, never a part of one: the content goes to a temporary file in the same folder
 * (created exclusively, mode 0600), is fsynced, renamed over the path (atomic on one file
 * system), and the folder is fsynced so the rename itself survives a crash. Two writers of one
 * path each write their own temporary file: the last rename wins, whole.
 *
 * The work is sliced: records are pulled from the content and encrypted for about `sliceMs`,
 * then the sealed chunks are written (an await: the event loop runs), so a large snapshot never
 * stalls reads for long. Aborting the signal abandons the write at the next slice: the temporary
 * file is removed and the previous snapshot stays.
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm, readdir, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ByteWriter } from "./byte-codec.js";
import { CHUNK_PLAINTEXT_BYTES, sealChunk } from "./chunk-cipher.js";
import { fileKeys } from "./snapshot-key.js";
import { encodeHeader, freshFileRandomness, type SnapshotIdentity } from "./snapshot-header.js";
import { BodyEncoder, type SnapshotRecord, type SnapshotSection } from "./snapshot-body.js";

/** What a snapshot holds, pulled one item at a time (the pull may run over many event-loop turns). */
export type SnapshotItem =
  | { readonly kind: "section"; readonly section: SnapshotSection }
  | { readonly kind: "record"; readonly record: SnapshotRecord }
  | { readonly kind: "sectionEnd" };

export interface SnapshotWriteOptions {
  readonly path: string;
  readonly key: Uint8Array;
  readonly identity: SnapshotIdentity;
  /** Abandons the write (the temporary file is removed) at the next slice. */
  readonly signal?: AbortSignal;
  /** How long one slice of encoding and encryption may run. Default 4 ms. */
  readonly sliceMs?: number;
  readonly now?: () => number;
}

export interface SnapshotWriteResult {
  readonly bytes: number;
  readonly records: number;
  readonly durationMs: number;
  /** The longest slice the write ran without yielding (its own contribution to event-loop stalls). */
  readonly longestSliceMs: number;
}

/** The write was abandoned (aborted, or the content gave up): nothing replaced the previous file. */
export class SnapshotWriteAbandonedError extends Error {
  override readonly name = "SnapshotWriteAbandonedError";
}

export const DEFAULT_WRITE_SLICE_MS = 4;
const TEMP_SUFFIX = ".tmp";
/** A temporary file this old belongs to a writer that died (a crash, SIGKILL): removed by the next write. */
const STALE_TEMP_MS = 10 * 60_000;

export async function writeSnapshotFile(content: Iterable<SnapshotItem>, options: SnapshotWriteOptions): Promise<SnapshotWriteResult> {
  const started = performance.now();
  const sliceMs = options.sliceMs ?? DEFAULT_WRITE_SLICE_MS;
  const { salt, noncePrefix } = freshFileRandomness();
  const { chunkKey, keyCheck } = fileKeys(options.key, salt);
  const aad = encodeHeader({ ...options.identity, salt, noncePrefix, keyCheck, createdAt: Math.floor((options.now ?? Date.now)()) });
  const temp = join(dirname(options.path), `.${basename(options.path)}.${process.pid}.${randomBytes(6).toString("hex")}${TEMP_SUFFIX}`);
  await removeStaleTemps(options.path);
  const file = await open(temp, "wx", 0o600);
  let closed = false;
  let longestSliceMs = 0;
  let records = 0;
  let bytes = 0;
  try {
    const plain = new ByteWriter(CHUNK_PLAINTEXT_BYTES * 2);
    const body = new BodyEncoder(plain);
    let chunkIndex = 0;
    // The clear-text prefix first, then each sealed chunk with its length.
    let sealed: Uint8Array[] = [aad];
    const sealFull = (): void => {
      while (plain.length > CHUNK_PLAINTEXT_BYTES) {
        sealed.push(lengthPrefixed(sealChunk(chunkKey, noncePrefix, aad, chunkIndex++, false, plain.take(CHUNK_PLAINTEXT_BYTES))));
      }
    };
    const flush = async (): Promise<void> => {
      const out = Buffer.concat(sealed);
      sealed = [];
      bytes += out.length;
      await file.write(out);
    };
    const items = content[Symbol.iterator]();
    let done = false;
    while (!done) {
      if (options.signal?.aborted === true) throw new SnapshotWriteAbandonedError("snapshot write abandoned");
      const sliceStart = performance.now();
      const deadline = sliceStart + sliceMs;
      for (let n = 1; ; n++) {
        const next = items.next();
        if (next.done === true) {
          done = true;
          break;
        }
        const item = next.value;
        if (item.kind === "record") {
          body.record(item.record);
          records++;
        } else if (item.kind === "section") body.section(item.section);
        else body.endSection();
        if (plain.length > CHUNK_PLAINTEXT_BYTES) sealFull();
        if ((n & 15) === 0 && performance.now() >= deadline) break;
      }
      if (done) {
        body.end();
        sealFull();
        sealed.push(lengthPrefixed(sealChunk(chunkKey, noncePrefix, aad, chunkIndex++, true, plain.take(plain.length))));
      }
      const sliceTook = performance.now() - sliceStart;
      if (sliceTook > longestSliceMs) longestSliceMs = sliceTook;
      await flush();
      if (!done) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await file.sync();
    await file.close();
    closed = true;
    if (options.signal?.aborted === true) throw new SnapshotWriteAbandonedError("snapshot write abandoned");
    await rename(temp, options.path);
    await syncFolder(dirname(options.path));
    return { bytes, records, durationMs: performance.now() - started, longestSliceMs };
  } catch (error) {
    if (!closed) await file.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

function lengthPrefixed(sealedChunk: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + sealedChunk.length);
  out.writeUInt32BE(sealedChunk.length, 0);
  sealedChunk.copy(out, 4);
  return out;
}

/** Makes a rename in `folder` durable; a platform that cannot fsync a folder is left as it is. */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, "r");
    await handle.sync();
  } catch {
    // Not supported here (e.g. Windows): the rename is still atomic, only its durability is the OS's.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Removes temporary files of this path left by writers that died long ago. */
async function removeStaleTemps(path: string): Promise<void> {
  const folder = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(TEMP_SUFFIX)) continue;
    const full = join(folder, name);
    try {
      if (now - (await stat(full)).mtimeMs > STALE_TEMP_MS) await rm(full, { force: true });
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}
