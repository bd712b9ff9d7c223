/**
 * The README's identity examples, type-checked with the repo (`tsc --noEmit`); the subpath
 * imports are the source entries of `/node-http`, `/express` and `/fastify`. Keep in step.
 */
import { createServer } from "node:http";
import type { Express } from "express";
import type { FastifyInstance } from "fastify";
import { WebSocketServer, type WebSocket } from "ws";
import { createAssertionVerifier, sessionEnds$, type AssertionVerifier, type DatabrokerCache } from "../../src/index.js";
import { pomeriumGuard } from "../../src/node-http.js";
import { pomeriumExpress } from "../../src/express.js";
import { pomeriumFastify } from "../../src/fastify.js";

export async function verifyExample(cache: DatabrokerCache, req: { headers: Record<string, string | string[] | undefined> }): Promise<AssertionVerifier> {
  const verifier = createAssertionVerifier(cache, {
    issuer: "app.example.com",
    audience: "app.example.com",
    jwks: "https://authenticate.example.com/.well-known/pomerium/jwks.json",
  });
  const result = await verifier.verify(req.headers["x-pomerium-jwt-assertion"]);
  if (result.ok) console.log(result.identity.email, result.session?.id, result.user?.name);
  else console.log("refused:", result.reason);
  return verifier;
}

export function middlewareExample(verifier: AssertionVerifier, expressApp: Express, fastifyApp: FastifyInstance): void {
  const guard = pomeriumGuard(verifier);
  createServer(async (req, res) => {
    const who = await guard(req, res);
    if (who !== undefined) res.end(`hello ${who.identity.email}`);
  });
  expressApp.use(pomeriumExpress(verifier, { onRefused: (r, _req, res) => res.redirect(`/signed-out?why=${r.reason}`) }));
  fastifyApp.addHook("onRequest", pomeriumFastify(verifier));
}

export function revocationExample(cache: DatabrokerCache, verifier: AssertionVerifier): void {
  const bySession = new Map<string, Set<{ close(): void }>>();
  const keep = (sid: string, conn: { close(): void }) => {
    const set = bySession.get(sid) ?? new Set();
    bySession.set(sid, set.add(conn));
    return () => set.delete(conn);
  };
  sessionEnds$(cache).subscribe((end) => {
    for (const conn of bySession.get(end.sessionId) ?? []) conn.close();
    bySession.delete(end.sessionId);
  });

  const wss = new WebSocketServer({ noServer: true });
  const server = createServer(async (req, res) => {
    const result = await verifier.verify(req.headers["x-pomerium-jwt-assertion"]);
    if (!result.ok) return void res.writeHead(401).end();
    res.writeHead(200, { "content-type": "text/event-stream" });
    const forget = keep(result.identity.sessionId, { close: () => res.end() });
    res.on("close", forget);
  });
  server.on("upgrade", async (req, socket, head) => {
    const result = await verifier.verify(req.headers["x-pomerium-jwt-assertion"]);
    if (!result.ok) return void socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const forget = keep(result.identity.sessionId, { close: () => ws.close(4401, "session ended") });
      ws.on("close", forget);
    });
  });
}
