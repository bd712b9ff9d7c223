/**
 * The node:http2 request handler serving the Connect router with the gRPC protocol only. It is
 * connect-node's connectNodeAdapter rebuilt from connect-node's public pieces
 * (universalRequestFromNodeRequest, universalResponseToNodeResponse), with two differences a
 * gRPC peer depends on:
 * - The answer waits until the request body has been read to its end (request-body-end.ts):
 *   an oversized request gets RESOURCE_EXHAUSTED and its connection keeps serving, instead of
 *   a reset stream and a connection that refuses every later call. For that, Connect gets the
 *   body as an iterator that does not destroy the request when Connect stops reading (the
 *   default one does, and then nothing could read the rest).
 * - grpc-message is bounded and encoded as grpc-go does (grpc-message-field.ts).
 */
import { createConnectRouter, type ConnectRouter, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { constants, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { rewriteGrpcMessage } from "./grpc-message-field.js";
import { untilRequestBodyEnds } from "./request-body-end.js";

export interface GrpcNodeHandlerOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: Interceptor[];
  /** Largest request message accepted (RESOURCE_EXHAUSTED beyond). */
  readonly readMaxBytes: number;
  /** Answers requests for paths the router does not serve. */
  readonly fallback: (req: Http2ServerRequest, res: Http2ServerResponse) => void;
  /** Values the interceptors and handlers see in the call's context, taken from the raw request. */
  readonly contextValues?: (req: Http2ServerRequest) => ContextValues;
}

export type GrpcNodeHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

export function createGrpcNodeHandler(options: GrpcNodeHandlerOptions): GrpcNodeHandler {
  const router = createConnectRouter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    acceptCompression: [],
    readMaxBytes: options.readMaxBytes,
    interceptors: options.interceptors,
  });
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, handler]));

  return (req, res) => {
    const handler = handlers.get((req.url ?? "").split("?", 2)[0] ?? "");
    if (handler === undefined) {
      options.fallback(req, res);
      return;
    }
    const request = {
      ...universalRequestFromNodeRequest(req, res, undefined, options.contextValues?.(req)),
      body: req.iterator({ destroyOnReturn: false }),
    };
    handler(request)
      .then(async (response) => {
        // Connect resolves once the first response message is ready or the call has failed; a
        // call that got that far successfully has read its whole request already.
        await untilRequestBodyEnds(req);
        await universalResponseToNodeResponse(withWireStatusMessage(response), res);
      })
      .catch(() => {
        // Writing failed (the client went away) or Connect could not build an answer: end the stream.
        if (!res.stream.destroyed) res.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      });
  };
}

/**
 * The response with its trailers' grpc-message rewritten when they are read. Connect fills the
 * trailers in while the body is iterated (a stream's status is only known at its end), and the
 * writer reads them once the body is done, so the rewrite happens then, at no cost per message.
 */
function withWireStatusMessage(response: UniversalServerResponse): UniversalServerResponse {
  const { trailer } = response;
  if (trailer === undefined) return response;
  let rewritten = false;
  return {
    ...response,
    get trailer() {
      if (!rewritten) rewriteGrpcMessage(trailer);
      rewritten = true;
      return trailer;
    },
  };
}
