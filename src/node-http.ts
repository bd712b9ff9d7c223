/**
 * The `/node-http` entry: a guard for `node:http` servers that verifies Pomerium's assertion
 * against the cache (see createAssertionVerifier in the root entry).
 *
 * @module @pomerium-sdk/databroker-cache/node-http
 */
export { pomeriumGuard } from "./identity/node-http-middleware.js";
export type { NodeHttpGuard, NodeHttpGuardOptions } from "./identity/node-http-middleware.js";
export { ASSERTION_HEADER, statusForRefusal, verifiedAssertion, writeRefusal } from "./identity/assertion-http.js";
export type { RefusalResponse } from "./identity/assertion-http.js";
