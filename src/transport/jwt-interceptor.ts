/**
 * The interceptor that authenticates every call to the databroker: an HS256 token under the
 * gRPC metadata key `jwt` (spec section 2). Interceptors run once per unary call and once per
 * stream at its start, which is exactly Pomerium's rule.
 *
 * The token's only claim is `exp` in whole seconds, so it is a pure function of the current
 * second: signing once per second gives byte-for-byte the token a signature per call would,
 * without an HMAC job per call (WebCrypto's HMAC is asynchronous and costs tens of microseconds).
 */
import type { Interceptor } from "@connectrpc/connect";
import { JWT_METADATA_KEY, signDatabrokerJwt } from "./shared-secret.js";

/**
 * @param key the 32 decoded secret bytes (from parseSharedSecret)
 * @param now clock for the token's `exp`; injectable for tests
 */
export function createJwtInterceptor(key: Uint8Array, now: () => number = Date.now): Interceptor {
  let signed: { readonly second: number; readonly token: Promise<string> } | undefined;
  const tokenFor = (nowMs: number): Promise<string> => {
    const second = Math.floor(nowMs / 1000);
    if (signed?.second === second) return signed.token;
    const token = signDatabrokerJwt(key, nowMs);
    const entry = { second, token };
    signed = entry;
    // A failed signature is not remembered: the next call signs again.
    token.catch(() => {
      if (signed === entry) signed = undefined;
    });
    return token;
  };
  return (next) => async (req) => {
    req.header.set(JWT_METADATA_KEY, await tokenFor(now()));
    return next(req);
  };
}
