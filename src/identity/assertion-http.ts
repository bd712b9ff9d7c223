/**
 * What the middleware share: where the assertion is, the HTTP status each refusal maps to, the
 * default answer, and where a verified request's result is kept.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { AssertionAccepted, AssertionRefusalReason, AssertionRefused } from "./assertion-result.js";
import type { AssertionVerifier } from "./assertion-verifier.js";

/** The header Pomerium puts its signed assertion in (lower case, as Node presents headers). */
export const ASSERTION_HEADER = "x-pomerium-jwt-assertion";

/**
 * The status a refusal answers with: 401 when the caller must (re)authenticate (a bad, expired
 * or missing token, or a session that is gone or invalid), 403 for a genuine token meant for
 * another issuer or audience, 503 when the service cannot decide now (keys not fetched yet,
 * cache not ready, past its staleness bound, closed): fail closed, but not the caller's fault.
 */
export function statusForRefusal(reason: AssertionRefusalReason): 401 | 403 | 503 {
  switch (reason) {
    case "wrong-issuer":
    case "wrong-audience":
      return 403;
    case "keys-unavailable":
    case "cache-not-ready":
    case "cache-stale":
    case "cache-closed":
      return 503;
    default:
      return 401;
  }
}

/** The assertion from request headers; a repeated header is malformed (the verifier refuses a non-string). */
export function assertionOf(headers: IncomingHttpHeaders): unknown {
  return headers[ASSERTION_HEADER];
}

/** The minimal response a default refusal needs (node:http's ServerResponse and Express's fit). */
export interface RefusalResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

/** The default answer: the status, `{"error": reason}` as JSON, Retry-After on 503. */
export function writeRefusal(res: RefusalResponse, refusal: AssertionRefused): void {
  const status = statusForRefusal(refusal.reason);
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("cache-control", "no-store");
  if (status === 503) res.setHeader("retry-after", "1");
  res.end(JSON.stringify({ error: refusal.reason }));
}

const accepted = new WeakMap<object, AssertionAccepted>();

/** The verified assertion of a request the middleware let through (Node request, Express or Fastify request). */
export function verifiedAssertion(request: object): AssertionAccepted | undefined {
  return accepted.get(request);
}

/** Verifies the request's assertion; keeps an accepted result for verifiedAssertion(). */
export async function verifyRequest(verifier: AssertionVerifier, request: object, headers: IncomingHttpHeaders): Promise<AssertionAccepted | AssertionRefused> {
  const result = await verifier.verify(assertionOf(headers));
  if (result.ok) accepted.set(request, result);
  return result;
}
