/**
 * Pomerium's signing keys, fetched from its JWKS endpoint (`/.well-known/pomerium/jwks.json`)
 * and held as a jose local key set. Unlike jose's createRemoteJWKSet, the last good set keeps
 * serving while the endpoint is slow, down or answers garbage: a known key verifies with no
 * network call at all, and a refresh never makes a known key stop working unless a good answer
 * dropped it.
 *
 * Fetches happen:
 * - once before the first verification (callers wait for it, sharing one fetch);
 * - when a token names a key the set does not hold, at most once per `cooldownMs` (tokens with
 *   unknown keys cannot make it fetch faster), so a rotation is picked up at the first token
 *   signed with the new key;
 * - in the background when the set is older than `refreshIntervalMs`, so a key removed from
 *   the endpoint stops verifying within that interval; not within `cooldownMs` of the last
 *   attempt, so an endpoint that is down or answers garbage is asked at most once per cooldown
 *   however many tokens arrive (a failed refresh leaves the set old, and every verification
 *   would otherwise start the next fetch as soon as the last one failed).
 * Each fetch has a deadline (`timeoutMs`) and a size limit; redirects are not followed.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from "jose";
import type { webcrypto } from "node:crypto";
import { errors } from "jose";

export interface RemoteKeySetOptions {
  readonly timeoutMs: number;
  readonly cooldownMs: number;
  readonly refreshIntervalMs: number;
  readonly maxBytes: number;
  /** Milliseconds, for cooldown and refresh decisions. */
  readonly now: () => number;
}

/** Why no key could be found: the reason the verifier reports. */
export class KeySetUnavailableError extends Error {
  override readonly name = "KeySetUnavailableError";
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

export class RemoteKeySet {
  readonly #url: URL;
  readonly #options: RemoteKeySetOptions;
  #local: KeyResolver | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #pending: Promise<void> | undefined;
  #lastError: string | undefined;

  constructor(url: URL, options: RemoteKeySetOptions) {
    this.#url = url;
    this.#options = options;
  }

  /** The last fetch failure (no secrets: the URL's origin and what went wrong), if the last fetch failed. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** jose's key-resolver signature: resolves the key for a token's protected header. */
  readonly resolve = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<webcrypto.CryptoKey> => {
    const now = this.#options.now();
    if (this.#local === undefined) {
      // Never fetched successfully: one fetch per cooldown, shared by every waiting caller.
      if (this.#pending === undefined && now - this.#attemptedAt < this.#options.cooldownMs) throw this.#unavailable();
      await this.#fetch();
      if (this.#local === undefined) throw this.#unavailable();
    } else if (now - this.#fetchedAt >= this.#options.refreshIntervalMs && now - this.#attemptedAt >= this.#options.cooldownMs) {
      void this.#fetch(); // background: the set in hand keeps serving
    }
    try {
      return await this.#local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || now - this.#attemptedAt < this.#options.cooldownMs) throw error;
    }
    await this.#fetch();
    return this.#local(header, token);
  };

  #unavailable(): KeySetUnavailableError {
    return new KeySetUnavailableError(`no signing keys from ${this.#url.origin}${this.#lastError === undefined ? "" : `: ${this.#lastError}`}`);
  }

  #fetch(): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    this.#attemptedAt = this.#options.now();
    this.#pending = this.#load().then(
      (jwks) => {
        this.#local = createLocalJWKSet(jwks);
        this.#fetchedAt = this.#options.now();
        this.#lastError = undefined;
      },
      (error: unknown) => {
        this.#lastError = error instanceof Error ? error.message : String(error);
      },
    ).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #load(): Promise<JSONWebKeySet> {
    const response = await fetch(this.#url, {
      redirect: "manual",
      headers: { accept: "application/json, application/jwk-set+json" },
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    }).catch((error: unknown) => {
      throw new Error(error instanceof Error && error.name === "TimeoutError" ? `timed out after ${this.#options.timeoutMs} ms` : "request failed");
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`HTTP status ${response.status}`);
    }
    const body = await readLimited(response, this.#options.maxBytes, this.#options.timeoutMs);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new Error("the answer is not JSON");
    }
    if (!isKeySet(parsed)) throw new Error("the answer is not a JSON Web Key Set");
    // Throws on a set jose cannot use (e.g. keys that are not objects).
    createLocalJWKSet(parsed);
    return parsed;
  }
}

function isKeySet(value: unknown): value is JSONWebKeySet {
  if (typeof value !== "object" || value === null) return false;
  const keys = (value as { keys?: unknown }).keys;
  return Array.isArray(keys) && keys.every((k) => typeof k === "object" && k !== null && !Array.isArray(k));
}

/** The body as text, refused past `maxBytes` (a garbage endpoint cannot make us buffer gigabytes). */
async function readLimited(response: Response, maxBytes: number, timeoutMs: number): Promise<string> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw new Error(`the answer is larger than ${maxBytes} bytes`);
  }
  const reader = response.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw new Error(`the answer is larger than ${maxBytes} bytes`);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    throw error instanceof Error && error.message.startsWith("the answer") ? error : new Error(`reading the answer failed (deadline ${timeoutMs} ms)`);
  }
  return Buffer.concat(chunks).toString("utf8");
}
