/**
 * Answers calls to methods this server does not serve the way grpc-go does: a trailers-only
 * response with UNIMPLEMENTED (12) and grpc-go's wording, instead of a bare HTTP 404.
 */
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { grpcMessageFieldValue } from "./grpc-message-field.js";
import { untilRequestBodyEnds } from "./request-body-end.js";

export function unknownMethodFallback(knownServices: ReadonlySet<string>): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  return (req, res) => {
    const contentType = String(req.headers["content-type"] ?? "");
    if (!contentType.startsWith("application/grpc")) {
      req.resume();
      res.writeHead(404);
      res.end();
      return;
    }
    const path = (req.url ?? "").split("?")[0] ?? "";
    const [, service = "", method = ""] = /^\/([^/]*)\/([^/]*)$/.exec(path) ?? [];
    const message = knownServices.has(service) ? `unknown method ${method} for service ${service}` : `unknown service ${service}`;
    // Read the request to its end first (request-body-end.ts says why).
    void untilRequestBodyEnds(req).then(() => {
      // A trailers-only response must end the stream on the HEADERS frame itself.
      try {
        if (res.stream.headersSent || res.stream.destroyed) return;
        res.stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12", "grpc-message": grpcMessageFieldValue(message) }, { endStream: true });
      } catch {
        // the client went away while we drained its request; nothing left to answer
      }
    });
  };
}
