/**
 * AES-256-GCM over a sequence of chunks, in the STREAM construction (Hoang, Reyhanitabar,
 * Rogaway, Vizár, "Online authenticated-encryption and its nonce-reuse misuse-resistance"): chunk
 * i is sealed under the nonce `prefix (7 bytes) || i (4 bytes, big-endian) || last (1 byte: 1 for
 * the final chunk, else 0)`, with the file's header as associated data. So:
 * - a flipped bit anywhere in a chunk, or in the header, fails that chunk's tag;
 * - moving or swapping chunks changes the counter they are opened with: their tags fail;
 * - cutting the file at a chunk boundary leaves a final chunk sealed with last = 0, which the
 *   reader opens with last = 1 (it is the final one it sees): its tag fails; appending a chunk
 *   after the real final one makes that one be opened with last = 0: its tag fails.
 * The prefix is random per file and the chunk key is derived per file (snapshot-key.ts), so a
 * (key, nonce) pair is never reused.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";

export const NONCE_PREFIX_BYTES = 7;
export const TAG_BYTES = 16;
/** Plaintext bytes per chunk (the last may be shorter, or empty). */
export const CHUNK_PLAINTEXT_BYTES = 64 * 1024;
/** The largest sealed chunk a reader accepts: anything longer is not ours. */
export const MAX_SEALED_CHUNK_BYTES = CHUNK_PLAINTEXT_BYTES + TAG_BYTES;
const MAX_CHUNKS = 2 ** 32;

function nonce(prefix: Uint8Array, index: number, last: boolean): Buffer {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS) throw new RangeError("snapshot chunk counter out of range");
  const n = Buffer.alloc(12);
  n.set(prefix.subarray(0, NONCE_PREFIX_BYTES), 0);
  n.writeUInt32BE(index, NONCE_PREFIX_BYTES);
  n[11] = last ? 1 : 0;
  return n;
}

/** Seals chunk `index`: the ciphertext followed by its 16-byte tag. */
export function sealChunk(key: Uint8Array, prefix: Uint8Array, aad: Uint8Array, index: number, last: boolean, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-gcm", key, nonce(prefix, index, last));
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([body, final, cipher.getAuthTag()]);
}

/** Opens chunk `index`; undefined when its tag does not verify (changed, moved, cut, or another key). */
export function openChunk(key: Uint8Array, prefix: Uint8Array, aad: Uint8Array, index: number, last: boolean, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  const decipher = createDecipheriv("aes-256-gcm", key, nonce(prefix, index, last));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const body = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([body, decipher.final()]);
  } catch {
    return undefined;
  }
}
