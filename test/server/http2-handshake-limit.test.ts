/**
 * The server's listener ends a connection whose peer sends the HTTP/2 client preface and the start
 * of a SETTINGS frame that never completes, then half-closes: nghttp2 waits for the rest of the
 * frame and Node does not act on the half-close, so the connection stayed open until the server
 * closed (seen as a test that fed the server random bytes and waited 30 s for the close). Other
 * connections are untouched: a client that completed its handshake keeps its session and is served.
 */
import { once } from "node:events";
import * as http2 from "node:http2";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { listenHttp2, type Http2Listener } from "../../src/server/http2-listener.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A SETTINGS frame header claiming 0xce0e8d bytes, then 100 of them: what a run of random bytes once sent. */
const PARTIAL_SETTINGS = Buffer.concat([PREFACE, Buffer.from([0xce, 0x0e, 0x8d, 0x04, 0, 0, 0, 0, 0]), Buffer.alloc(100)]);

let listener: Http2Listener;

beforeAll(async () => {
  listener = await listenHttp2({
    host: "127.0.0.1",
    port: 0,
    routes: (router) => router.service(DataBrokerService, {}),
    interceptors: [],
    readMaxBytes: 4 * 1024 * 1024,
    knownServices: new Set([DataBrokerService.typeName]),
    handshakeLimitMs: 200,
  });
});

afterAll(() => listener.close());

/** A unary gRPC call the server answers (an unknown method: UNIMPLEMENTED); resolves with its grpc-status. */
async function call(session: http2.ClientHttp2Session): Promise<string | undefined> {
  const stream = session.request({ ":method": "POST", ":path": "/no.Such/Method", "content-type": "application/grpc", te: "trailers" });
  stream.end(Buffer.alloc(5));
  stream.resume();
  const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
  if (headers["grpc-status"] !== undefined) return String(headers["grpc-status"]);
  const [trailers] = (await once(stream, "trailers")) as [http2.IncomingHttpHeaders];
  return trailers["grpc-status"] === undefined ? undefined : String(trailers["grpc-status"]);
}

describe("the HTTP/2 listener's handshake limit", () => {
  it("ends a connection whose first SETTINGS frame never completes, and keeps serving the others", async () => {
    const good = http2.connect(`http://127.0.0.1:${listener.port}`);
    try {
      // The server has the client's SETTINGS once it answered a call.
      expect(await call(good)).toBe("12");

      const garbage = connect(listener.port, "127.0.0.1", () => garbage.end(PARTIAL_SETTINGS));
      garbage.on("data", () => undefined);
      garbage.on("error", () => undefined);
      await once(garbage, "close");

      // Past the limit, the session that completed its handshake is open and served.
      expect(good.closed || good.destroyed).toBe(false);
      expect(await call(good)).toBe("12");
    } finally {
      good.close();
    }
  });
});
