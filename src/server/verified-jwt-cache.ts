/**
 * Tokens this server has already verified, with their expiry. Pomerium's clients put only a
 * whole-second `exp` in the token, so every call a client makes within one second carries the
 * same token; re-checking its HMAC (an asynchronous WebCrypto job in Node) on each call is
 * most of a small request's cost. A token string that verified once with this key verifies
 * again, so a hit only needs the expiry check. Bounded: the oldest entry goes first.
 */
export const VERIFIED_JWT_CACHE_SIZE = 256;

export class VerifiedJwtCache {
  readonly #expiryMs = new Map<string, number>();

  constructor(private readonly capacity = VERIFIED_JWT_CACHE_SIZE) {
    if (!(capacity >= 1)) throw new RangeError("capacity must be at least 1");
  }

  get size(): number {
    return this.#expiryMs.size;
  }

  /** True when `token` was verified before and is not expired at `nowMs` (no leeway, as on a miss). */
  isValid(token: string, nowMs: number): boolean {
    const expiryMs = this.#expiryMs.get(token);
    if (expiryMs === undefined) return false;
    if (nowMs > expiryMs) {
      this.#expiryMs.delete(token);
      return false;
    }
    return true;
  }

  /** Remembers a token that just verified, valid until `expiryMs`. */
  add(token: string, expiryMs: number): void {
    this.#expiryMs.delete(token);
    this.#expiryMs.set(token, expiryMs);
    if (this.#expiryMs.size > this.capacity) {
      const oldest = this.#expiryMs.keys().next().value as string;
      this.#expiryMs.delete(oldest);
    }
  }
}
