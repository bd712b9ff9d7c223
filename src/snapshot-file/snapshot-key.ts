/**
 * The key a snapshot is encrypted under: 32 bytes the host supplies (e.g. from a KMS), or derived
 * from Pomerium's shared secret with HKDF-SHA256 and a fixed, versioned label, so rotating the
 * secret makes old snapshots unreadable (they are then rejected as "key" and the cache syncs
 * from the server). Per file, two keys are derived from it with the file's random salt: one
 * encrypts the chunks, one computes the key check (so a wrong key is told apart from tampering).
 */
import { createHmac, hkdfSync } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseSharedSecret } from "../transport/shared-secret.js";

export const SNAPSHOT_KEY_BYTES = 32;
/** Changing it invalidates every snapshot derived from a shared secret. */
const SHARED_SECRET_LABEL = "pomerium-sdk/databroker-cache snapshot key v1";
const CHUNK_KEY_LABEL = "pomerium-sdk/databroker-cache snapshot chunk key v1";
const CHECK_KEY_LABEL = "pomerium-sdk/databroker-cache snapshot key check v1";

/** The snapshot key for a cache: the host's key, checked, or one derived from the shared secret. */
export function snapshotKey(sharedSecret: string, hostKey: Uint8Array | undefined): Uint8Array {
  if (hostKey !== undefined) {
    if (!(hostKey instanceof Uint8Array) || hostKey.length !== SNAPSHOT_KEY_BYTES) {
      throw new ConnectError(`snapshot.key must be ${SNAPSHOT_KEY_BYTES} bytes`, Code.InvalidArgument);
    }
    return Uint8Array.from(hostKey);
  }
  const secret = parseSharedSecret(sharedSecret);
  return new Uint8Array(hkdfSync("sha256", secret, new Uint8Array(0), SHARED_SECRET_LABEL, SNAPSHOT_KEY_BYTES));
}

/** The two keys of one file, from the snapshot key and the file's random salt. */
export interface FileKeys {
  readonly chunkKey: Uint8Array;
  /** 16 bytes stored in the header: HMAC of the salt under a key of its own. */
  readonly keyCheck: Uint8Array;
}

export function fileKeys(key: Uint8Array, salt: Uint8Array): FileKeys {
  const chunkKey = new Uint8Array(hkdfSync("sha256", key, salt, CHUNK_KEY_LABEL, SNAPSHOT_KEY_BYTES));
  const checkKey = new Uint8Array(hkdfSync("sha256", key, salt, CHECK_KEY_LABEL, SNAPSHOT_KEY_BYTES));
  const keyCheck = new Uint8Array(createHmac("sha256", checkKey).update(salt).digest().subarray(0, 16));
  return { chunkKey, keyCheck };
}
