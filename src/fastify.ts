/**
 * The `/fastify` entry: a Fastify onRequest hook that verifies Pomerium's assertion against the
 * cache. Fastify is not a dependency: the hook is typed by what it uses.
 *
 * @module @pomerium-sdk/databroker-cache/fastify
 */
export { pomeriumFastify } from "./identity/fastify-hook.js";
export type { FastifyGuardOptions, FastifyLikeReply, FastifyLikeRequest } from "./identity/fastify-hook.js";
export { ASSERTION_HEADER, statusForRefusal, verifiedAssertion } from "./identity/assertion-http.js";
