/**
 * Waiting for the end of a request body, reading and discarding whatever nobody read.
 *
 * Why a server must read a request to its end before answering: a Node HTTP/2 client counts
 * the request bytes it has queued but not yet sent against its session memory (maxSessionMemory,
 * 10 MB by default, in connect-node and a bare node:http2 client; grpc-js lifts the limit). A
 * server that answers while a large request is still queued, and stops reading it, leaves that
 * queue full: the client refuses the answer's headers (the stream is reset with
 * ENHANCE_YOUR_CALM) and every later call on that connection, because its queue never drains.
 * Reading the rest of the body drains the client's queue first, so the answer gets through and
 * the connection stays usable. The bytes are discarded as they come: memory stays flat.
 */
import type { Http2ServerRequest } from "node:http2";

/**
 * Resolves once `req`'s body has been read to its end (discarding what is left), or at once if
 * it never will be (the request was destroyed or the stream closed).
 */
export function untilRequestBodyEnds(req: Http2ServerRequest): Promise<void> {
  if (req.readableEnded || req.destroyed || req.stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      req.off("end", done);
      req.off("close", done);
      req.off("error", done);
      resolve();
    };
    req.on("end", done);
    req.on("close", done);
    req.on("error", done);
    req.resume();
  });
}
