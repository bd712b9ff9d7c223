/**
 * The node:http guard, the Express middleware and the Fastify hook, each in a real server on
 * loopback in front of a real cache: accepted requests reach the handler with the verified
 * assertion, refusals get 401/403/503, and the host's own answer replaces the default.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAssertionVerifier, type AssertionVerifier } from "../../src/index.js";
import { pomeriumGuard, statusForRefusal, verifiedAssertion } from "../../src/node-http.js";
import { pomeriumExpress } from "../../src/express.js";
import { pomeriumFastify } from "../../src/fastify.js";
import { Cleanups, cacheFor, session, startServer, writer } from "../cache/cache-fixtures.js";
import { HOST, mint, newSigningKey, type SigningKey } from "./assertion-fixtures.js";

const cleanups = new Cleanups();
let key: SigningKey;
let verifier: AssertionVerifier;
let wrongAudience: AssertionVerifier;
let notReady: AssertionVerifier;

beforeAll(async () => {
  const server = await startServer(cleanups);
  await writer(server.url).put({ records: [session("s1", "u1")] });
  const cache = cacheFor(cleanups, server.url);
  await cache.ready({ timeoutMs: 5000 });
  key = await newSigningKey();
  const jwks = { keys: [key.publicJwk] };
  verifier = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks });
  wrongAudience = createAssertionVerifier(cache, { issuer: HOST, audience: "other.example.com", jwks });
  // A cache pointed at nothing never becomes ready.
  const idle = cacheFor(cleanups, "http://127.0.0.1:1");
  notReady = createAssertionVerifier(idle, { issuer: HOST, audience: HOST, jwks });
  cleanups.add(() => [verifier, wrongAudience, notReady].forEach((v) => v.close()));
});
afterAll(() => cleanups.run());

async function listen(server: Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.add(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function get(url: string, token?: string): Promise<{ status: number; body: string; retryAfter: string | null }> {
  const res = await fetch(url, { headers: token === undefined ? {} : { "x-pomerium-jwt-assertion": token } });
  return { status: res.status, body: await res.text(), retryAfter: res.headers.get("retry-after") };
}

type Variant = (v: AssertionVerifier) => Promise<string>;

const variants: Record<string, Variant> = {
  "node:http": (v) => {
    const guard = pomeriumGuard(v);
    return listen(createServer(async (req, res) => {
      const who = await guard(req, res);
      if (who === undefined) return;
      res.end(`hello ${who.identity.subject} ${verifiedAssertion(req)?.identity.sessionId}`);
    }));
  },
  express: (v) => {
    const app = express();
    app.use(pomeriumExpress(v));
    app.get("/", (req, res) => {
      res.send(`hello ${verifiedAssertion(req)?.identity.subject} ${verifiedAssertion(req)?.identity.sessionId}`);
    });
    return listen(createServer(app));
  },
  fastify: async (v) => {
    const app = Fastify();
    app.addHook("onRequest", pomeriumFastify(v));
    app.get("/", async (request) => `hello ${verifiedAssertion(request)?.identity.subject} ${verifiedAssertion(request)?.identity.sessionId}`);
    await app.listen({ port: 0, host: "127.0.0.1" });
    cleanups.add(() => app.close());
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  },
};

describe.each(Object.entries(variants))("%s", (_name, start) => {
  it("lets a live session through with its identity; answers refusals with 401, 403 and 503", async () => {
    const url = await start(verifier);
    expect(await get(url, await mint(key, { sid: "s1", sub: "u1" }))).toMatchObject({ status: 200, body: "hello u1 s1" });
    expect(await get(url)).toMatchObject({ status: 401, body: JSON.stringify({ error: "missing" }) });
    expect(await get(url, await mint(key, { sid: "gone", sub: "u1" }))).toMatchObject({ status: 401, body: JSON.stringify({ error: "session-unknown" }) });
    expect(await get(url, "garbage")).toMatchObject({ status: 401, body: JSON.stringify({ error: "malformed" }) });
    expect(await get(await start(wrongAudience), await mint(key, { sid: "s1", sub: "u1" }))).toMatchObject({ status: 403, body: JSON.stringify({ error: "wrong-audience" }) });
    expect(await get(await start(notReady), await mint(key, { sid: "s1", sub: "u1" }))).toMatchObject({ status: 503, retryAfter: "1", body: JSON.stringify({ error: "cache-not-ready" }) });
  });
});

describe("the host's own answer", () => {
  it("replaces the default in each variant", async () => {
    const node = await listen(createServer(async (req, res) => {
      const who = await pomeriumGuard(verifier, { onRefused: (r, _req, out) => void out.writeHead(302, { location: `/login?why=${r.reason}` }).end() })(req, res);
      if (who !== undefined) res.end("ok");
    }));
    const app = express();
    app.use(pomeriumExpress(verifier, { onRefused: (r, _req, res) => void res.status(418).send(r.reason) }));
    const viaExpress = await listen(createServer(app));
    const fastify = Fastify();
    fastify.addHook("onRequest", pomeriumFastify(verifier, { onRefused: async (r, _req, reply) => void (await reply.code(418).send(r.reason)) }));
    fastify.get("/", async () => "ok");
    await fastify.listen({ port: 0, host: "127.0.0.1" });
    cleanups.add(() => fastify.close());
    const viaFastify = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;

    const res = await fetch(node, { redirect: "manual" });
    expect([res.status, res.headers.get("location")]).toEqual([302, "/login?why=missing"]);
    expect(await get(viaExpress)).toMatchObject({ status: 418, body: "missing" });
    expect(await get(viaFastify)).toMatchObject({ status: 418, body: "missing" });
  });

  it("maps every reason to 401, 403 or 503", () => {
    expect(statusForRefusal("session-signed-out")).toBe(401);
    expect(statusForRefusal("bad-signature")).toBe(401);
    expect(statusForRefusal("wrong-issuer")).toBe(403);
    expect(statusForRefusal("cache-stale")).toBe(503);
    expect(statusForRefusal("keys-unavailable")).toBe(503);
  });
});
