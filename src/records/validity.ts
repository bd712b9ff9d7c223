/**
 * Validity rules exactly as Pomerium's Session.Validate and ServiceAccount.Validate (spec 9).
 * Pomerium treats a timestamp whose UTC year is not after 1970 as unset (Go's AsTime of a nil
 * Timestamp is the epoch), and "past" is strict: a session expiring exactly now is still valid.
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Session } from "../../gen/session/session_pb.js";
import type { ServiceAccount } from "../../gen/user/user_pb.js";
import { systemClock, type Clock } from "./clock.js";

/** 1971-01-01T00:00:00Z: the first instant whose UTC year is > 1970. */
const FIRST_SECOND_OF_1971 = 31_536_000n;
const FIRST_SECOND_OF_1971_NUMBER = 31_536_000;

/** True when `ts` counts as set (year > 1970) and lies strictly before `nowMs`. */
export function isSetAndPast(ts: Timestamp | undefined, nowMs: number): boolean {
  if (ts === undefined || ts.seconds < FIRST_SECOND_OF_1971) return false;
  // Milliseconds as a double keep sub-microsecond precision for any realistic date.
  const expiresMs = Number(ts.seconds) * 1000 + ts.nanos / 1e6;
  return nowMs > expiresMs;
}

/** A set timestamp (year > 1970) in milliseconds, or +Infinity when unset. */
function expiryMs(ts: Timestamp | undefined): number {
  if (ts === undefined) return Number.POSITIVE_INFINITY;
  // One BigInt conversion instead of a BigInt compare and a conversion (first touch runs this).
  // Exact: rounding only happens beyond 2^53 s, far from the 1971 boundary on either side.
  const seconds = Number(ts.seconds);
  if (seconds < FIRST_SECOND_OF_1971_NUMBER) return Number.POSITIVE_INFINITY;
  return seconds * 1000 + ts.nanos / 1e6;
}

/**
 * The instant after which {@link isSessionValid} says no: the session is invalid exactly when
 * `nowMs > sessionInvalidAfterMs(session)`. Computed once per decoded record, it turns the hot
 * read's validity check into one comparison of doubles (no BigInt arithmetic per read).
 */
export function sessionInvalidAfterMs(session: Session): number {
  const token = session.oauthToken;
  const tokenLimit =
    token !== undefined && (session.refreshDisabled || token.refreshToken === "") ? expiryMs(token.expiresAt) : Number.POSITIVE_INFINITY;
  return Math.min(expiryMs(session.expiresAt), tokenLimit);
}

/** Like {@link sessionInvalidAfterMs}, for {@link isServiceAccountValid}. */
export function serviceAccountInvalidAfterMs(account: ServiceAccount): number {
  return expiryMs(account.expiresAt);
}

/** Session.Validate: invalid when expired, or when the access token expired and cannot be refreshed. */
export function isSessionValid(session: Session, clock: Clock = systemClock): boolean {
  const nowMs = clock.now();
  if (isSetAndPast(session.expiresAt, nowMs)) return false;
  const token = session.oauthToken;
  if (token !== undefined && isSetAndPast(token.expiresAt, nowMs)) {
    if (session.refreshDisabled || token.refreshToken === "") return false;
  }
  return true;
}

/** ServiceAccount.Validate: invalid only when expires_at is set and past. */
export function isServiceAccountValid(account: ServiceAccount, clock: Clock = systemClock): boolean {
  return !isSetAndPast(account.expiresAt, clock.now());
}
