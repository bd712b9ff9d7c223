/**
 * The databroker's JWT check (spec 2, Pomerium's grpcutil.validateJWT): an HMAC (HS256/384/512) compact JWS
 * signed with the shared secret whose claims are exactly one numeric `exp`, not yet passed.
 * No leeway. Returns a reason for logs/tests; callers answer only "invalid JWT".
 */
import { compactVerify } from "jose";

export type JwtCheck =
  /** `expiryMs`: the last instant (Unix ms) at which the token is still accepted. */
  | { readonly ok: true; readonly expiryMs: number }
  | { readonly ok: false; readonly reason: string };

export async function verifyDatabrokerJwt(token: string, key: Uint8Array, nowMs: number = Date.now()): Promise<JwtCheck> {
  let payload: Uint8Array;
  try {
    // go-jose v3 (Pomerium's verifier) takes any HMAC algorithm with a []byte key and has no
    // minimum key size, so HS384 and HS512 tokens verify too; `none` and asymmetric ones do not.
    ({ payload } = await compactVerify(token, key, { algorithms: ["HS256", "HS384", "HS512"] }));
  } catch (err) {
    return { ok: false, reason: `signature: ${err instanceof Error ? err.message : String(err)}` };
  }
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    return { ok: false, reason: "claims are not JSON" };
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) return { ok: false, reason: "claims are not an object" };
  const entries = Object.entries(claims);
  // Every claim must decode as a numeric date, and there must be exactly one: exp.
  if (entries.length !== 1) return { ok: false, reason: "expected exactly one claim (exp)" };
  const exp = (claims as { exp?: unknown }).exp;
  if (typeof exp !== "number" || !Number.isFinite(exp)) return { ok: false, reason: "expected exactly one claim (exp)" };
  // go-jose keeps whole seconds (truncated); the token is rejected once now is after exp.
  const expiryMs = Math.trunc(exp) * 1000;
  if (nowMs > expiryMs) return { ok: false, reason: "JWT expired" };
  return { ok: true, expiryMs };
}
