/** What verifying a Pomerium identity assertion answers: accepted with who, or refused with why. */
import type { JWTPayload } from "jose";
import type { Session } from "../../gen/session/session_pb.js";
import type { ServiceAccount, User } from "../../gen/user/user_pb.js";

/**
 * Why an assertion was refused. Token problems: "missing" (no token), "too-large",
 * "malformed" (not a compact JWS/JWT, or a required claim missing or of the wrong type),
 * "unsupported-algorithm" (an `alg` outside the allow-list: never "none", never HS*),
 * "wrong-type" (`typ` is not "JWT"), "unknown-key" (no key with its `kid`, even after a refresh),
 * "keys-unavailable" (no key set could be fetched yet), "bad-signature", "expired",
 * "issued-in-future" (`iat` ahead of the clock by more than the leeway), "wrong-issuer",
 * "wrong-audience". Replica verdicts: "session-unknown" (no such session or service account),
 * "session-signed-out" (it ended while the verifier watched: deleted, or gone in a resync),
 * "session-expired" (present but invalid by Pomerium's validity rules), "session-mismatch" (its
 * user is not the assertion's subject). Cache condition: "cache-not-ready", "cache-stale" (past
 * `maxStalenessMs`), "cache-closed".
 */
export type AssertionRefusalReason =
  | "missing"
  | "too-large"
  | "malformed"
  | "unsupported-algorithm"
  | "wrong-type"
  | "unknown-key"
  | "keys-unavailable"
  | "bad-signature"
  | "expired"
  | "issued-in-future"
  | "wrong-issuer"
  | "wrong-audience"
  | "session-unknown"
  | "session-signed-out"
  | "session-expired"
  | "session-mismatch"
  | "cache-not-ready"
  | "cache-stale"
  | "cache-closed";

/** The claims Pomerium's authorize service puts in every assertion (see its headers evaluator). */
export interface PomeriumIdentity {
  /** `iss`: the route's host name, or `https://host/` with the URI issuer format. */
  readonly issuer: string;
  /** `aud`: the route's host name. */
  readonly audience: string | readonly string[];
  /** `sub` (and `user`): the user id. */
  readonly subject: string;
  /** `sid`: the session id (or the service account id). */
  readonly sessionId: string;
  readonly email: string;
  readonly name: string;
  readonly groups: readonly string[];
  /** `jti`: unique per assertion. */
  readonly tokenId: string | undefined;
  /** `iat` and `exp`, in seconds since the epoch (Pomerium signs for five minutes). */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Every claim as received (including custom claims from `jwt_claims_headers`). */
  readonly claims: Readonly<JWTPayload>;
}

export interface AssertionAccepted {
  readonly ok: true;
  readonly identity: PomeriumIdentity;
  /** "session" for a user session, "service-account" when `sid` names a service account. */
  readonly principal: "session" | "service-account";
  /** The live session from the replica (deep-frozen), when `principal` is "session". */
  readonly session: Readonly<Session> | undefined;
  /** The live service account from the replica, when `principal` is "service-account". */
  readonly serviceAccount: Readonly<ServiceAccount> | undefined;
  /** The user from the replica, when it holds one (users may not be mirrored). */
  readonly user: Readonly<User> | undefined;
}

export interface AssertionRefused {
  readonly ok: false;
  readonly reason: AssertionRefusalReason;
  /** A short human explanation for logs (never the token, never key material). */
  readonly detail: string;
}

export type AssertionVerification = AssertionAccepted | AssertionRefused;
