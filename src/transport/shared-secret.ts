/**
 * Pomerium's shared secret and the per-call JWT signed with it (spec section 2).
 *
 * The secret is standard base64 (with padding) of exactly 32 bytes, with no surrounding
 * whitespace. Every call and every stream carries a fresh compact JWS under the gRPC metadata
 * key `jwt`: HS256, header `typ: JWT`, payload exactly `{"exp": now + 1 hour}`.
 *
 * Error messages here never include the secret or any part of it.
 */
import { SignJWT } from "jose";

/** gRPC metadata key that carries the token. Pomerium reads it lowercase. */
export const JWT_METADATA_KEY = "jwt";

/** Lifetime Pomerium's own clients give each token. */
export const JWT_LIFETIME_SECONDS = 3600;

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Thrown when a shared secret is not base64 of 32 bytes. Never carries the secret itself. */
export class SharedSecretError extends Error {
  override readonly name = "SharedSecretError";
}

/**
 * Decodes and validates a shared secret. Accepts the base64 text (as Pomerium's
 * `shared_secret` config takes it) and returns the 32 raw key bytes.
 */
export function parseSharedSecret(secret: string): Uint8Array {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new SharedSecretError("shared secret is empty: expected base64 of 32 random bytes (e.g. `head -c32 /dev/urandom | base64`)");
  }
  if (secret.trim() !== secret) {
    throw new SharedSecretError("shared secret contains whitespace: remove leading/trailing spaces or newlines (a file written with echo ends in a newline)");
  }
  if (!STANDARD_BASE64.test(secret)) {
    throw new SharedSecretError("shared secret is not standard base64 with padding: expected base64 of 32 random bytes");
  }
  const key = Buffer.from(secret, "base64");
  if (key.length !== 32) {
    throw new SharedSecretError(`shared secret decodes to ${key.length} bytes; Pomerium requires exactly 32 (base64 of 32 random bytes)`);
  }
  return new Uint8Array(key);
}

/**
 * Signs a token exactly as Pomerium's clients do: HS256, `typ: JWT`, only the `exp` claim.
 * @param key the 32 decoded secret bytes from {@link parseSharedSecret}
 * @param nowMs the current time; injectable for tests
 */
export async function signDatabrokerJwt(key: Uint8Array, nowMs: number = Date.now()): Promise<string> {
  const exp = Math.floor(nowMs / 1000) + JWT_LIFETIME_SECONDS;
  return new SignJWT({ exp }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
}
