/**
 * The interceptor that authenticates every call to the databroker: a freshly signed HS256
 * token under the gRPC metadata key `jwt` (spec section 2). Interceptors run once per unary
 * call and once per stream at its start, which is exactly Pomerium's rule.
 */
import type { Interceptor } from "@connectrpc/connect";
import { JWT_METADATA_KEY, signDatabrokerJwt } from "./shared-secret.js";

/**
 * @param key the 32 decoded secret bytes (from parseSharedSecret)
 * @param now clock for the token's `exp`; injectable for tests
 */
export function createJwtInterceptor(key: Uint8Array, now: () => number = Date.now): Interceptor {
  return (next) => async (req) => {
    req.header.set(JWT_METADATA_KEY, await signDatabrokerJwt(key, now()));
    return next(req);
  };
}
