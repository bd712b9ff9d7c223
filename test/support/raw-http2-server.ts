/**
 * A plain node:http2 server on a loopback port whose streams a test answers itself (raw frames,
 * headers and trailers of its choosing), keeping track of its sessions so that closing it ends
 * them too.
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";

export interface RawHttp2Server {
  readonly url: string;
  readonly port: number;
  /** The sessions open now. */
  readonly sessions: ReadonlySet<http2.ServerHttp2Session>;
  /** Destroys the open sessions and closes the server. */
  close(): Promise<void>;
}

export async function startRawHttp2Server(onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<RawHttp2Server> {
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => undefined);
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    sessions,
    close: () => {
      for (const s of sessions) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
