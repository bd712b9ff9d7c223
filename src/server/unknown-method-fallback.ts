/**
 * Answers calls to methods this server does not serve the way grpc-go does: a trailers-only
 * response with UNIMPLEMENTED (12) and grpc-go's wording, instead of a bare HTTP 404.
 */
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";

type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

export function unknownMethodFallback(knownServices: ReadonlySet<string>): NodeHandlerFn {
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
    // Read the request to its end first: answering early makes Node reset the stream, and the
    // client then never sees the status.
    const respond = (): void => {
      const headers = {
        "content-type": "application/grpc",
        "grpc-status": "12",
        "grpc-message": encodeURIComponent(message),
      };
      // A trailers-only response must end the stream on the HEADERS frame itself.
      try {
        if ("stream" in res && !res.stream.headersSent && !res.stream.destroyed) {
          res.stream.respond({ ":status": 200, ...headers }, { endStream: true });
          return;
        }
        if (res.headersSent) return;
        res.writeHead(200, headers);
        res.end();
      } catch {
        // the client went away while we drained its request; nothing left to answer
      }
    };
    req.once("end", respond);
    req.once("error", () => res.destroy());
    req.resume();
  };
}
