/**
 * sessionEnds$ against a real in-memory databroker: deletes, expiry by the validity rules (a
 * timer, no polling), and a resync after Clear; and a live WebSocket (ws) closed by the event of
 * its session, authenticated on upgrade by the assertion verifier.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { createAssertionVerifier, sessionEnds$, type SessionEnd } from "../../src/index.js";
import { Cleanups, cacheFor, deleted, session, startServer, until, writer } from "../cache/cache-fixtures.js";
import { HOST, mint, newSigningKey } from "./assertion-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe("sessionEnds$", () => {
  it("reports each ended session once: deleted, expired by its expires_at, gone in a resync", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s-del", "u1"), session("s-keep", "u1"), session("s-never-valid", "u1", { expiresAt: timestampFromMs(Date.now() - 1000) })] });
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });
    const ends: SessionEnd[] = [];
    const sub = sessionEnds$(cache).subscribe((e) => ends.push(e));
    cleanups.add(() => sub.unsubscribe());

    await db.put({ records: [deleted(session("s-del", "u1"))] });
    await until(() => ends.length === 1, "the delete event");
    expect(ends[0]).toMatchObject({ sessionId: "s-del", userId: "u1", reason: "deleted" });

    // Expires 300 ms from now: the watcher's timer reports it without any further change.
    await db.put({ records: [session("s-exp", "u2", { expiresAt: timestampFromMs(Date.now() + 300) })] });
    await until(() => ends.length === 2, "the expiry event", 5000);
    expect(ends[1]).toMatchObject({ sessionId: "s-exp", userId: "u2", reason: "expired" });
    expect(cache.getSession("s-exp")).toBeUndefined();

    // An update that makes a session invalid ends it at once.
    await db.put({ records: [session("s-keep", "u1", { expiresAt: timestampFromMs(Date.now() - 1) })] });
    await until(() => ends.length === 3, "the invalidating update");
    expect(ends[2]).toMatchObject({ sessionId: "s-keep", reason: "expired" });

    await db.put({ records: [session("s-resync", "u3")] });
    await until(() => cache.getSession("s-resync") !== undefined, "s-resync cached");
    await db.clear({});
    await until(() => ends.length === 4, "the resync event");
    expect(ends[3]).toMatchObject({ sessionId: "s-resync", reason: "resync" });
    // Never-valid sessions and repeated ends are not reported.
    expect(ends.map((e) => e.sessionId)).toEqual(["s-del", "s-exp", "s-keep", "s-resync"]);
  });

  it("closes a live WebSocket when its session is deleted", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s-ws", "u1"), session("s-other", "u1")] });
    const cache = cacheFor(cleanups, server.url);
    await cache.ready({ timeoutMs: 5000 });
    const key = await newSigningKey();
    const verifier = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: { keys: [key.publicJwk] } });
    cleanups.add(() => verifier.close());

    // The host: authenticate on upgrade, keep sockets by session, close them on the session's end.
    const sockets = new Map<string, Set<WebSocket>>();
    const http = createServer();
    const wss = new WebSocketServer({ noServer: true });
    http.on("upgrade", (req, socket, head) => {
      void verifier.verify(req.headers["x-pomerium-jwt-assertion"]).then((result) => {
        if (!result.ok) return void socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
        wss.handleUpgrade(req, socket, head, (ws) => {
          const sid = result.identity.sessionId;
          const set = sockets.get(sid) ?? new Set<WebSocket>();
          sockets.set(sid, set.add(ws));
          ws.once("close", () => set.delete(ws));
        });
      });
    });
    const ends = sessionEnds$(cache).subscribe((end) => {
      for (const ws of sockets.get(end.sessionId) ?? []) ws.close(4401, "session ended");
    });
    cleanups.add(() => ends.unsubscribe());
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    cleanups.add(() => new Promise<void>((resolve) => {
      wss.close();
      http.closeAllConnections();
      http.close(() => resolve());
    }));
    const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/`;
    const connect = async (sid: string) => {
      const ws = new WebSocket(url, { headers: { "x-pomerium-jwt-assertion": await mint(key, { sid, sub: "u1" }) } });
      await once(ws, "open");
      cleanups.add(() => ws.terminate());
      return ws;
    };
    const doomed = await connect("s-ws");
    const bystander = await connect("s-other");
    const closed = once(doomed, "close");

    await db.put({ records: [deleted(session("s-ws", "u1"))] });
    const [code, reason] = (await closed) as [number, Buffer];
    expect(code).toBe(4401);
    expect(reason.toString()).toBe("session ended");
    expect(bystander.readyState).toBe(WebSocket.OPEN);

    // A new connection with the signed-out session's (still signed) assertion is refused.
    const refused = new WebSocket(url, { headers: { "x-pomerium-jwt-assertion": await mint(key, { sid: "s-ws", sub: "u1" }) } });
    const [error] = (await once(refused, "error")) as [Error];
    expect(error.message).toMatch(/401/);
  });
});
