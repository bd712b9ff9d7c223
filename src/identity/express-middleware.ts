/**
 * Express middleware, typed structurally so Express stays out of the package's dependencies:
 * `app.use(pomeriumExpress(verifier))`, then `verifiedAssertion(req)` in handlers.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { AssertionRefused } from "./assertion-result.js";
import type { AssertionVerifier } from "./assertion-verifier.js";
import { verifyRequest, writeRefusal, type RefusalResponse } from "./assertion-http.js";

/** What the middleware reads of Express's request. */
export interface ExpressLikeRequest {
  readonly headers: IncomingHttpHeaders;
}

export interface ExpressGuardOptions<Req extends ExpressLikeRequest, Res extends RefusalResponse> {
  /** The host's own answer to a refusal (default: status per statusForRefusal, JSON `{ error }`). */
  readonly onRefused?: (refusal: AssertionRefused, req: Req, res: Res, next: (error?: unknown) => void) => void | Promise<void>;
}

export function pomeriumExpress<Req extends ExpressLikeRequest, Res extends RefusalResponse>(
  verifier: AssertionVerifier,
  options: ExpressGuardOptions<Req, Res> = {},
): (req: Req, res: Res, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    verifyRequest(verifier, req, req.headers).then(async (result) => {
      if (result.ok) return next();
      if (options.onRefused !== undefined) await options.onRefused(result, req, res, next);
      else writeRefusal(res, result);
    }).catch(next);
  };
}
