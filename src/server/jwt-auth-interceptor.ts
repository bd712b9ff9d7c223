/**
 * The JWT check as a Connect interceptor, on every DataBrokerService and CheckpointService call
 * (streams are checked once, when they open). Missing token: UNAUTHENTICATED "unauthenticated";
 * anything wrong with it: UNAUTHENTICATED "invalid JWT". The token is read from the first `jwt`
 * metadata value, as Pomerium reads it.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { JWT_METADATA_KEY } from "../transport/shared-secret.js";
import { verifyDatabrokerJwt } from "./jwt-verification.js";
import { VerifiedJwtCache } from "./verified-jwt-cache.js";

export function jwtAuthInterceptor(key: Uint8Array, protectedServices: ReadonlySet<string>, now: () => number = Date.now): Interceptor {
  const verified = new VerifiedJwtCache();
  return (next) => async (req) => {
    if (protectedServices.has(req.service.typeName)) {
      const raw = req.header.get(JWT_METADATA_KEY);
      if (raw === null) throw new ConnectError("unauthenticated", Code.Unauthenticated);
      // Headers repeat as "a, b"; gRPC metadata's first value is what Pomerium checks.
      const token = raw.split(",")[0]?.trim() ?? "";
      const nowMs = now();
      if (!verified.isValid(token, nowMs)) {
        const check = await verifyDatabrokerJwt(token, key, nowMs);
        if (!check.ok) throw new ConnectError("invalid JWT", Code.Unauthenticated);
        verified.add(token, check.expiryMs);
      }
    }
    return await next(req);
  };
}
