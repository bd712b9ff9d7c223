/**
 * Verifies Pomerium's identity assertion (the `X-Pomerium-Jwt-Assertion` header) and then asks
 * the replica whether its session is still live, so a signed-out or deleted session is refused
 * at once instead of for the five minutes the assertion stays signed.
 *
 * What Pomerium's authorize service signs (its headers evaluator): a compact JWS with header
 * `{ typ: "JWT", alg, kid }` (ES256 for an EC signing key, RS256 for RSA), claims `iss` (the
 * route's host, or `https://host/`), `aud` (the host), `iat`, `exp` (iat + 5 minutes), `jti`,
 * `sub` and `user` (the user id), `email`, `groups`, `name` and `sid` (the session id, or the
 * service account id). No `nbf`.
 *
 * Order of checks, cheapest first, each answering with a typed reason (nothing throws): size,
 * shape, `alg` against the allow-list (before any key is looked up), `typ`, key and signature,
 * `iss`/`aud`, `exp`/`iat` with the leeway, required claims, then the cache (closed, ready,
 * within its staleness bound) and the session or service account named by `sid`: present,
 * valid by Pomerium's rules, and belonging to `sub`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Subscription } from "rxjs";
import type { DatabrokerCache } from "../cache/databroker-cache.js";
import { StaleCacheError } from "../cache/stale-cache-error.js";
import { systemClock, type Clock } from "../records/clock.js";
import type { AssertionRefusalReason, AssertionVerification, PomeriumIdentity } from "./assertion-result.js";
import { KeySetUnavailableError, RemoteKeySet } from "./remote-key-set.js";
import { sessionEnds$ } from "./session-ends.js";

/** Asymmetric algorithms Pomerium can sign with (and that jose verifies); HS* and "none" never. */
export const ASSERTION_ALGORITHMS = Object.freeze(["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"] as const);
export type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

export const DEFAULT_ASSERTION_ALGORITHMS: readonly AssertionAlgorithm[] = Object.freeze(["ES256"]);
/** Envoy's default request-header limit (60 KiB) bounds what can arrive anyway; 64 KiB leaves room. */
export const DEFAULT_MAX_ASSERTION_BYTES = 64 * 1024;
export const DEFAULT_ASSERTION_LEEWAY_SEC = 5;

/** How long an ended session id is remembered, to say "session-signed-out" rather than "session-unknown". */
const ENDED_MEMORY_MS = 10 * 60_000;
const ENDED_MEMORY_MAX = 100_000;

export interface AssertionVerifierOptions {
  /** Expected `iss`, or several (Pomerium: the route's host name, or `https://host/`). Required. */
  readonly issuer: string | readonly string[];
  /** Expected `aud`, or several (Pomerium: the route's host name). Required. */
  readonly audience: string | readonly string[];
  /**
   * Pomerium's keys: its JWKS URL (`https://<authenticate or route host>/.well-known/pomerium/jwks.json`,
   * fetched and cached, see `jwksCooldownMs`), or a key set held locally.
   */
  readonly jwks: string | URL | JSONWebKeySet;
  /** Allowed `alg` values (asymmetric only). Default ["ES256"], Pomerium's for its default EC key. */
  readonly algorithms?: readonly AssertionAlgorithm[];
  /** Tolerance for `exp` and `iat`, in seconds. Default 5. */
  readonly leewaySec?: number;
  /** Tokens longer than this many characters are refused unread. Default 64 KiB. */
  readonly maxTokenBytes?: number;
  /** Time source (also for the session validity check: give the cache's own clock). Default Date.now(). */
  readonly clock?: Clock;
  /** A remote JWKS is fetched again for an unknown `kid` at most this often. Default 10 s. */
  readonly jwksCooldownMs?: number;
  /**
   * A remote JWKS is refreshed in the background when older than this (and no fetch was tried
   * within `jwksCooldownMs`, so a failing endpoint is asked at most once per cooldown). Default 5 minutes.
   */
  readonly jwksRefreshIntervalMs?: number;
  /** Deadline of each JWKS fetch. Default 5 s. */
  readonly jwksTimeoutMs?: number;
  /**
   * Accept a `sid` naming a service account (Pomerium puts the account id there for service
   * account tokens). Default true.
   */
  readonly allowServiceAccounts?: boolean;
}

export interface AssertionVerifier {
  /**
   * Verifies a token: resolves to ok with the identity, session (or service account) and user,
   * or to a refusal with its reason. Never rejects, whatever the input. With a known key it
   * makes no network call.
   */
  verify(token: unknown): Promise<AssertionVerification>;
  /** Stops watching session ends (the verifier keeps working; ended sessions read as unknown). */
  close(): void;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function checkStrings(name: string, value: unknown): readonly string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((v) => typeof v !== "string" || v === "")) {
    throw invalid(`\`${name}\` must be a non-empty string or a non-empty list of them (no trust on first use)`);
  }
  return list as readonly string[];
}

function checkPositive(name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) throw invalid(`\`${name}\` must be a finite number >= ${min}`);
  return value;
}

/**
 * Creates a verifier bound to `cache`. Throws ConnectError InvalidArgument for settings that can
 * never be safe (no issuer or audience, a symmetric or "none" algorithm, a bad JWKS).
 */
export function createAssertionVerifier(cache: DatabrokerCache, options: AssertionVerifierOptions): AssertionVerifier {
  if (options === null || typeof options !== "object") throw invalid("createAssertionVerifier needs an options object");
  const issuer = checkStrings("issuer", options.issuer);
  const audience = checkStrings("audience", options.audience);
  const algorithms = options.algorithms ?? DEFAULT_ASSERTION_ALGORITHMS;
  if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((a) => !ASSERTION_ALGORITHMS.includes(a))) {
    throw invalid(`\`algorithms\` must list some of ${ASSERTION_ALGORITHMS.join(", ")} (never "none" or HS*)`);
  }
  const leewaySec = checkPositive("leewaySec", options.leewaySec, DEFAULT_ASSERTION_LEEWAY_SEC);
  const maxTokenBytes = checkPositive("maxTokenBytes", options.maxTokenBytes, DEFAULT_MAX_ASSERTION_BYTES, 1);
  const clock = options.clock ?? systemClock;
  const keys = keyResolver(options, clock);
  const allowServiceAccounts = options.allowServiceAccounts ?? true;

  const ended = new Map<string, number>();
  const watch: Subscription = sessionEnds$(cache, { clock }).subscribe((end) => {
    ended.delete(end.sessionId);
    ended.set(end.sessionId, clock.now());
    // Oldest first (insertion order): drop what is past the memory window, and the excess.
    for (const [id, at] of ended) {
      if (ended.size <= ENDED_MEMORY_MAX && clock.now() - at <= ENDED_MEMORY_MS) break;
      ended.delete(id);
    }
  });

  const refuse = (reason: AssertionRefusalReason, detail: string): AssertionVerification => ({ ok: false, reason, detail });

  const verifyToken = async (token: unknown): Promise<AssertionVerification> => {
    if (token === undefined || token === null || token === "") return refuse("missing", "no assertion");
    if (typeof token !== "string") return refuse("malformed", "the assertion is not a string");
    if (token.length > maxTokenBytes) return refuse("too-large", `the assertion is longer than ${maxTokenBytes} characters`);
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return refuse("malformed", "not a compact JWS");
    let alg: unknown;
    let typ: unknown;
    try {
      ({ alg, typ } = decodeProtectedHeader(token));
    } catch {
      return refuse("malformed", "the protected header is not base64url JSON");
    }
    if (typeof alg !== "string" || !(algorithms as readonly string[]).includes(alg)) return refuse("unsupported-algorithm", `alg ${JSON.stringify(String(alg)).slice(0, 40)} is not allowed`);
    if (typeof typ !== "string" || typ.toUpperCase() !== "JWT") return refuse("wrong-type", "typ is not JWT");

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: algorithms as string[],
        issuer: issuer as string[],
        audience: audience as string[],
        typ: "JWT",
        clockTolerance: leewaySec,
        currentDate: new Date(clock.now()),
        requiredClaims: ["exp", "iat", "sub", "sid"],
      }));
    } catch (error) {
      return refusalOf(error);
    }
    const nowSec = clock.now() / 1000;
    if (typeof payload.iat !== "number" || payload.iat > nowSec + leewaySec) return refuse("issued-in-future", "iat is ahead of the clock");
    const identity = identityOf(payload);
    if (identity === undefined) return refuse("malformed", "sub, sid, email, name or groups have the wrong type");

    if (cache.state.closed) return refuse("cache-closed", "the cache is closed");
    if (!cache.isReady) return refuse("cache-not-ready", "the cache has not loaded its first snapshot");
    try {
      return principalOf(identity);
    } catch (error) {
      if (error instanceof StaleCacheError) return refuse("cache-stale", error.message);
      throw error;
    }
  };

  const principalOf = (identity: PomeriumIdentity): AssertionVerification => {
    const sid = identity.sessionId;
    const session = cache.getSession(sid, { includeInvalid: true });
    if (session !== undefined) {
      if (cache.getSession(sid) === undefined) return refuse("session-expired", "the session is no longer valid");
      if (session.userId !== identity.subject) return refuse("session-mismatch", "the session belongs to another user");
      return { ok: true, identity, principal: "session", session, serviceAccount: undefined, user: cache.getUser(identity.subject) };
    }
    const account = allowServiceAccounts ? cache.getServiceAccount(sid, { includeInvalid: true }) : undefined;
    if (account !== undefined) {
      if (cache.getServiceAccount(sid) === undefined) return refuse("session-expired", "the service account has expired");
      if (account.userId !== identity.subject) return refuse("session-mismatch", "the service account belongs to another user");
      return { ok: true, identity, principal: "service-account", session: undefined, serviceAccount: account, user: cache.getUser(identity.subject) };
    }
    if (ended.has(sid)) return refuse("session-signed-out", "the session ended (signed out or deleted)");
    return refuse("session-unknown", "no live session with this id");
  };

  return {
    async verify(token) {
      try {
        return await verifyToken(token);
      } catch (error) {
        // A bug of ours or a failing host clock: refused, never thrown.
        return refuse("malformed", `verification failed: ${error instanceof Error ? error.name : "error"}`);
      }
    },
    close() {
      watch.unsubscribe();
      ended.clear();
    },
  };
}

function keyResolver(options: AssertionVerifierOptions, clock: Clock): JWTVerifyGetKey {
  const source = options.jwks;
  if (typeof source === "string" || source instanceof URL) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw invalid("`jwks` must be an http(s) URL or a JSON Web Key Set");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw invalid("`jwks` must be an http(s) URL or a JSON Web Key Set");
    return new RemoteKeySet(url, {
      timeoutMs: checkPositive("jwksTimeoutMs", options.jwksTimeoutMs, 5_000, 1),
      cooldownMs: checkPositive("jwksCooldownMs", options.jwksCooldownMs, 10_000),
      refreshIntervalMs: checkPositive("jwksRefreshIntervalMs", options.jwksRefreshIntervalMs, 5 * 60_000, 1),
      maxBytes: 1024 * 1024,
      now: () => clock.now(),
    }).resolve;
  }
  try {
    return createLocalJWKSet(source);
  } catch {
    throw invalid("`jwks` must be an http(s) URL or a JSON Web Key Set");
  }
}

/** jose's errors, as reasons. */
function refusalOf(error: unknown): AssertionVerification {
  const refuse = (reason: AssertionRefusalReason, detail: string): AssertionVerification => ({ ok: false, reason, detail });
  if (error instanceof KeySetUnavailableError) return refuse("keys-unavailable", error.message);
  if (error instanceof errors.JWTExpired) return refuse("expired", "exp has passed");
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iss") return refuse("wrong-issuer", "unexpected iss");
    if (error.claim === "aud") return refuse("wrong-audience", "unexpected aud");
    if (error.claim === "typ") return refuse("wrong-type", "typ is not JWT");
    return refuse("malformed", `claim ${error.claim}: ${error.reason}`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return refuse("bad-signature", "signature verification failed");
  if (error instanceof errors.JWKSNoMatchingKey) return refuse("unknown-key", "no key matches the token's kid and alg");
  if (error instanceof errors.JOSEAlgNotAllowed) return refuse("unsupported-algorithm", "alg not allowed");
  if (error instanceof errors.JWKSTimeout) return refuse("keys-unavailable", "the key set fetch timed out");
  if (error instanceof errors.JOSEError) return refuse("malformed", error.code);
  return refuse("malformed", error instanceof Error ? error.name : "unreadable token");
}

function identityOf(p: JWTPayload): PomeriumIdentity | undefined {
  const str = (v: unknown): string | undefined => (v === undefined ? "" : typeof v === "string" ? v : undefined);
  const sub = p.sub;
  const sid = p["sid"];
  const email = str(p["email"]);
  const name = str(p["name"]);
  const groups = p["groups"] ?? [];
  if (typeof sub !== "string" || typeof sid !== "string" || sid === "" || email === undefined || name === undefined) return undefined;
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== "string")) return undefined;
  return Object.freeze({
    issuer: p.iss ?? "",
    audience: p.aud ?? "",
    subject: sub,
    sessionId: sid,
    email,
    name,
    groups: Object.freeze([...(groups as string[])]),
    tokenId: p.jti,
    issuedAt: p.iat!,
    expiresAt: p.exp!,
    claims: p,
  });
}
