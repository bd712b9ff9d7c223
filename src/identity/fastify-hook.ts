/**
 * A Fastify onRequest hook, typed structurally so Fastify stays out of the package's
 * dependencies: `app.addHook("onRequest", pomeriumFastify(verifier))`, then
 * `verifiedAssertion(request)` in handlers.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { AssertionRefused } from "./assertion-result.js";
import type { AssertionVerifier } from "./assertion-verifier.js";
import { statusForRefusal, verifyRequest } from "./assertion-http.js";

export interface FastifyLikeRequest {
  readonly headers: IncomingHttpHeaders;
}

/** What the hook uses of Fastify's reply. */
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  header(name: string, value: string): FastifyLikeReply;
  send(payload: unknown): unknown;
}

export interface FastifyGuardOptions<Req extends FastifyLikeRequest, Reply extends FastifyLikeReply> {
  /** The host's own answer to a refusal (it must send a reply). Default: status per statusForRefusal, `{ error }`. */
  readonly onRefused?: (refusal: AssertionRefused, request: Req, reply: Reply) => void | Promise<void>;
}

export function pomeriumFastify<Req extends FastifyLikeRequest, Reply extends FastifyLikeReply>(
  verifier: AssertionVerifier,
  options: FastifyGuardOptions<Req, Reply> = {},
): (request: Req, reply: Reply) => Promise<void> {
  return async (request, reply) => {
    const result = await verifyRequest(verifier, request, request.headers);
    if (result.ok) return;
    if (options.onRefused !== undefined) return options.onRefused(result, request, reply);
    const status = statusForRefusal(result.reason);
    reply.code(status).header("cache-control", "no-store");
    if (status === 503) reply.header("retry-after", "1");
    await reply.send({ error: result.reason });
  };
}
