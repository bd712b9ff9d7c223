/**
 * The `/express` entry: Express middleware that verifies Pomerium's assertion against the cache.
 * Express is not a dependency: the middleware is typed by what it uses.
 *
 * @module @pomerium-sdk/databroker-cache/express
 */
export { pomeriumExpress } from "./identity/express-middleware.js";
export type { ExpressGuardOptions, ExpressLikeRequest } from "./identity/express-middleware.js";
export { ASSERTION_HEADER, statusForRefusal, verifiedAssertion } from "./identity/assertion-http.js";
export type { RefusalResponse } from "./identity/assertion-http.js";
