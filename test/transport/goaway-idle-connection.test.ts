/**
 * Regression test for connectrpc/connect-es#1768: a GOAWAY (NO_ERROR) on an idle connection makes
 * the session manager destroy the session with an error that Node raises later; if the manager
 * has moved on by then (a new request reconnects), nothing listens and the process crashes with
 * an uncaught "received GOAWAY without any open streams". Pomerium sends exactly this GOAWAY
 * when it shuts down gracefully, so without our guard a databroker restart could crash the host.
 */
import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { Http2SessionManager } from "@connectrpc/connect-node";
import { guardSessionErrors } from "../../src/transport/guarded-session-manager.js";

interface Server {
  port: number;
  sessions: Set<http2.ServerHttp2Session>;
  close(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => undefined);
  });
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    sessions,
    close: () => {
      for (const s of sessions) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

async function get(manager: Http2SessionManager): Promise<http2.ClientHttp2Stream> {
  const stream = await manager.request("GET", "/", {}, {});
  stream.end();
  await new Promise<void>((resolve, reject) => {
    stream.on("error", reject);
    stream.resume();
    stream.on("end", () => resolve());
  });
  return stream;
}

describe("HTTP/2 session guard (connect-es#1768)", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it("a GOAWAY on an idle connection followed by a new request raises no uncaught exception", async () => {
    server = await startServer();
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    // Vitest would also report it, failing the run; collecting it makes the assertion explicit.
    process.on("uncaughtException", onUncaught);
    try {
      const manager = guardSessionErrors(new Http2SessionManager(`http://127.0.0.1:${server.port}`));
      const first = await get(manager);
      const session = first.session!;
      // When the manager has destroyed the idle session, issue a new request at once: the
      // manager leaves the "ready" state (removing its listeners) before Node emits the error.
      const followUp = new Promise<void>((resolve) => {
        session.once("goaway", () => {
          void get(manager).then(() => resolve(), () => resolve());
        });
      });
      for (const s of server.sessions) s.goaway(http2.constants.NGHTTP2_NO_ERROR);
      await followUp;
      await new Promise((r) => setTimeout(r, 100));
      manager.abort();
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught.map(String)).toEqual([]);
  });
});
