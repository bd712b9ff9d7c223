/**
 * Clients the contract suite talks to a databroker with: our generated Connect clients over a
 * real HTTP/2 (h2c) connection, signing a fresh Pomerium JWT per call, and raw-token variants
 * that send exactly the token a test chooses (for the authentication contract, spec section 2).
 *
 * Each client set owns its HTTP/2 session, so a test can close every socket it opened.
 */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { CompactSign, SignJWT } from "jose";
import { randomBytes } from "node:crypto";

import { CheckpointService, DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { guardSessionErrors } from "../../src/transport/guarded-session-manager.js";
import { JWT_METADATA_KEY, parseSharedSecret, signDatabrokerJwt } from "../../src/transport/shared-secret.js";
import type { ConformanceTarget } from "./target.js";

export type DataBrokerClient = Client<typeof DataBrokerService>;
export type CheckpointClient = Client<typeof CheckpointService>;

/** Produces the token for one call, or undefined to send none. */
export type TokenSource = () => Promise<string | undefined>;

/** Sets the `jwt` metadata from a token source on every unary call and at every stream start. */
export function jwtInterceptor(token: TokenSource): Interceptor {
  return (next) => async (req) => {
    const value = await token();
    if (value !== undefined) req.header.set(JWT_METADATA_KEY, value);
    return next(req);
  };
}

/** The token Pomerium's own clients send: HS256, `typ: JWT`, only `exp` one hour ahead. */
export function validTokens(sharedSecret: string): TokenSource {
  const key = parseSharedSecret(sharedSecret);
  return () => signDatabrokerJwt(key);
}

export interface ClientSet {
  readonly db: DataBrokerClient;
  readonly checkpoints: CheckpointClient;
  /** Closes the HTTP/2 session (and with it every open stream). */
  close(): void;
}

/**
 * Connect gRPC clients for a target over one HTTP/2 session. No gzip is offered or sent.
 * @param token what to put in the `jwt` metadata; defaults to a correctly signed token
 */
export function connectClients(
  target: Pick<ConformanceTarget, "url" | "sharedSecret">,
  token: TokenSource = validTokens(target.sharedSecret),
): ClientSet {
  // Guarded: targets restart between tests and send GOAWAY (connect-es#1768).
  const sessionManager = guardSessionErrors(new Http2SessionManager(target.url));
  const transport = createGrpcTransport({
    baseUrl: target.url, // the gRPC transport always speaks HTTP/2
    sessionManager,
    interceptors: [jwtInterceptor(token)],
    acceptCompression: [],
  });
  return {
    db: createClient(DataBrokerService, transport),
    checkpoints: createClient(CheckpointService, transport),
    close: () => sessionManager.abort(),
  };
}

/** Hand-made tokens for the authentication contract, each wrong in exactly one way. */
export const rawTokens = {
  /** No token at all. */
  missing: (): TokenSource => async () => undefined,

  /** A well-formed HS256 token signed with a different 32-byte key. */
  wrongKey: (): TokenSource => {
    const otherKey = new Uint8Array(randomBytes(32));
    return () => signDatabrokerJwt(otherKey);
  },

  /** Correct key and exp, plus one more claim (Pomerium wants exactly one claim, exp). */
  extraClaim: (sharedSecret: string, claim: Record<string, unknown>): TokenSource => {
    const key = parseSharedSecret(sharedSecret);
    return () =>
      new SignJWT({ exp: nowSeconds() + 3600, ...claim }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
  },

  /** Correct key, but exp already passed. */
  expired: (sharedSecret: string, secondsAgo = 60): TokenSource => {
    const key = parseSharedSecret(sharedSecret);
    return () => new SignJWT({ exp: nowSeconds() - secondsAgo }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
  },

  /** Correct key, but no claims at all. */
  noClaims: (sharedSecret: string): TokenSource => {
    const key = parseSharedSecret(sharedSecret);
    return () => new SignJWT({}).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
  },

  /** Correct key and claims, signed with HMAC-SHA512 instead of HS256. */
  hs512: (sharedSecret: string): TokenSource => {
    const key = parseSharedSecret(sharedSecret);
    return () => new SignJWT({ exp: nowSeconds() + 3600 }).setProtectedHeader({ alg: "HS512", typ: "JWT" }).sign(key);
  },

  /** An unsigned token (alg "none") with a valid-looking payload. */
  unsigned: (): TokenSource => async () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    return `${enc({ alg: "none", typ: "JWT" })}.${enc({ exp: nowSeconds() + 3600 })}.`;
  },

  /** Not a JWT at all. */
  garbage: (): TokenSource => async () => "not-a-jwt",

  /** HS256 with the correct key over exactly this claims text (e.g. `{"exp":1e300}`). */
  claimsText: (sharedSecret: string, claims: string): TokenSource => {
    const key = parseSharedSecret(sharedSecret);
    return () => new CompactSign(new TextEncoder().encode(claims)).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
  },

  /** A correctly signed token, then `suffix` in the same header field (e.g. ", junk"). */
  validThen: (sharedSecret: string, suffix: string): TokenSource => {
    const key = parseSharedSecret(sharedSecret);
    return async () => `${await signDatabrokerJwt(key)}${suffix}`;
  },

  /** A correctly signed token with a space inserted inside each of its three parts. */
  spacedInside: (sharedSecret: string): TokenSource => {
    const key = parseSharedSecret(sharedSecret);
    return async () =>
      (await signDatabrokerJwt(key))
        .split(".")
        .map((part) => `${part.slice(0, 4)} ${part.slice(4)}`)
        .join(".");
  },
} as const;

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
