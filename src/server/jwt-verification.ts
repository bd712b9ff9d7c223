/**
 * The databroker's JWT check (spec 2, Pomerium's grpcutil.validateJWT): an HMAC (HS256/384/512) compact JWS
 * signed with the shared secret whose claims are exactly one numeric `exp`, not yet passed.
 * No leeway. Returns a reason for logs/tests; callers answer only "invalid JWT".
 *
 * Where go-jose v3 (Pomerium's parser) reads a token differently from a strict one, this does
 * what go-jose does: white space anywhere in the token is dropped before parsing, and `exp`
 * becomes whole int64 seconds compared through Go's time.Time (see MAX_EXP_SECONDS).
 * Not mirrored: go-jose also takes the JWS JSON serialization (a token starting with `{`).
 */
import { compactVerify } from "jose";

export type JwtCheck =
  /** `expiryMs`: the last instant (Unix ms) at which the token is still accepted. */
  | { readonly ok: true; readonly expiryMs: number }
  | { readonly ok: false; readonly reason: string };

/** Go's unicode.IsSpace: the characters go-jose's ParseSigned removes from a token. */
const GO_WHITE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/g;

/**
 * The largest `exp` that can pass. Go's time.Time counts seconds from year 1 in an int64; go-jose
 * makes exp a time with time.Unix(exp, 0), which adds the 62135596800 seconds from year 1 to
 * 1970, and past this the sum wraps into the distant past: the token is expired. (An exp at or
 * beyond 2^63 becomes an extreme int64 first and ends up in the past too.)
 */
export const MAX_EXP_SECONDS = 2n ** 63n - 1n - 62_135_596_800n;

export async function verifyDatabrokerJwt(token: string, key: Uint8Array, nowMs: number = Date.now()): Promise<JwtCheck> {
  let payload: Uint8Array;
  try {
    // go-jose v3 (Pomerium's verifier) takes any HMAC algorithm with a []byte key and has no
    // minimum key size, so HS384 and HS512 tokens verify too; `none` and asymmetric ones do not.
    ({ payload } = await compactVerify(token.replace(GO_WHITE_SPACE, ""), key, { algorithms: ["HS256", "HS384", "HS512"] }));
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
  const expSeconds = Math.trunc(exp);
  if (BigInt(expSeconds) > MAX_EXP_SECONDS) return { ok: false, reason: "exp is beyond what Go's time holds (wraps to the past)" };
  const expiryMs = expSeconds * 1000;
  if (nowMs > expiryMs) return { ok: false, reason: "JWT expired" };
  return { ok: true, expiryMs };
}
