/**
 * The JWT check as a Connect interceptor, on every DataBrokerService and CheckpointService call
 * (streams are checked once, when they open). Missing token: UNAUTHENTICATED "unauthenticated";
 * anything wrong with it: UNAUTHENTICATED "invalid JWT".
 *
 * The token is the first `jwt` header field of the request, whole, as grpc-go hands gRPC
 * metadata to Pomerium: repeated fields are separate values and a comma inside one is part of
 * it. Node joins repeated fields with ", " in its parsed headers (which Connect sees), so the
 * field is taken from the raw header list instead, by the listener, into the call's context.
 */
import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type Interceptor } from "@connectrpc/connect";
import type { Http2ServerRequest } from "node:http2";
import { JWT_METADATA_KEY } from "../transport/shared-secret.js";
import { verifyDatabrokerJwt } from "./jwt-verification.js";
import { VerifiedJwtCache } from "./verified-jwt-cache.js";

/** The first `jwt` header field of the call (undefined: there is none). */
export const JWT_FIELD = createContextKey<string | undefined>(undefined, { description: "the first jwt header field" });

/** Context values for a request: its first `jwt` header field, decoded as UTF-8 (Go reads the bytes as UTF-8). */
export function jwtFieldContextValues(req: Http2ServerRequest): ContextValues {
  const values = createContextValues();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() !== JWT_METADATA_KEY) continue;
    const latin1 = raw[i + 1] ?? "";
    // Node hands header bytes over as Latin-1 characters.
    values.set(JWT_FIELD, /^[\x00-\x7f]*$/.test(latin1) ? latin1 : Buffer.from(latin1, "latin1").toString("utf8"));
    break;
  }
  return values;
}

export function jwtAuthInterceptor(key: Uint8Array, protectedServices: ReadonlySet<string>, now: () => number = Date.now): Interceptor {
  const verified = new VerifiedJwtCache();
  return (next) => async (req) => {
    if (protectedServices.has(req.service.typeName)) {
      const token = req.contextValues.get(JWT_FIELD);
      if (token === undefined) throw new ConnectError("unauthenticated", Code.Unauthenticated);
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
