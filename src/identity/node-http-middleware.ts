/** The node:http guard: verify, then either hand the request on or answer the refusal. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AssertionAccepted, AssertionRefused } from "./assertion-result.js";
import type { AssertionVerifier } from "./assertion-verifier.js";
import { verifyRequest, writeRefusal } from "./assertion-http.js";

export interface NodeHttpGuardOptions {
  /** The host's own answer to a refusal (default: status per statusForRefusal, JSON `{ error }`). */
  readonly onRefused?: (refusal: AssertionRefused, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
}

/**
 * `const who = await guard(req, res); if (who === undefined) return;` — resolves to the accepted
 * assertion, or answers the refusal (or lets `onRefused` answer) and resolves to undefined.
 * Never rejects unless `onRefused` does.
 */
export type NodeHttpGuard = (req: IncomingMessage, res: ServerResponse) => Promise<AssertionAccepted | undefined>;

export function pomeriumGuard(verifier: AssertionVerifier, options: NodeHttpGuardOptions = {}): NodeHttpGuard {
  return async (req, res) => {
    const result = await verifyRequest(verifier, req, req.headers);
    if (result.ok) return result;
    if (options.onRefused !== undefined) await options.onRefused(result, req, res);
    else writeRefusal(res, result);
    return undefined;
  };
}
