/**
 * createAssertionVerifier against a real in-memory databroker and cache over loopback HTTP/2:
 * signature and claims, the session check in the replica, bad input, and a remote JWKS that
 * rotates, hangs, goes down or answers garbage.
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { SignJWT, base64url } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAssertionVerifier, type AssertionVerifier, type DatabrokerCache } from "../../src/index.js";
import { Cleanups, cacheFor, deleted, serviceAccount, session, startServer, until, user, writer } from "../cache/cache-fixtures.js";
import { untilAsync } from "../support/wait-until.js";
import { HOST, mint, newSigningKey, startJwksEndpoint, type JwksEndpoint, type SigningKey } from "./assertion-fixtures.js";

const cleanups = new Cleanups();
let cache: DatabrokerCache;
let db: ReturnType<typeof writer>;
let key: SigningKey;
let verifier: AssertionVerifier;

beforeAll(async () => {
  const server = await startServer(cleanups);
  db = writer(server.url);
  await db.put({
    records: [
      session("s1", "u1"),
      user("u1", "ada@example.com", "Ada"),
      session("s-expired", "u1", { expiresAt: timestampFromMs(Date.now() - 60_000) }),
      serviceAccount("sa1", "u2"),
    ],
  });
  cache = cacheFor(cleanups, server.url);
  await cache.ready({ timeoutMs: 5000 });
  key = await newSigningKey();
  verifier = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: { keys: [key.publicJwk] } });
  cleanups.add(() => verifier.close());
});
afterAll(() => cleanups.run());

describe("createAssertionVerifier: tokens shaped as Pomerium signs them", () => {
  it("accepts a live session's assertion, with the identity, session and user from the replica", async () => {
    const result = await verifier.verify(await mint(key, { sid: "s1", sub: "u1", email: "ada@example.com" }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.principal).toBe("session");
    expect(result.identity).toMatchObject({ subject: "u1", sessionId: "s1", email: "ada@example.com", issuer: HOST, audience: HOST, groups: [] });
    expect(result.session?.id).toBe("s1");
    expect(result.user?.name).toBe("Ada");
  });

  it("accepts a service account named by sid", async () => {
    const result = await verifier.verify(await mint(key, { sid: "sa1", sub: "u2" }));
    expect(result).toMatchObject({ ok: true, principal: "service-account" });
  });

  it("refuses a deleted session at once as signed out, an unknown one as unknown, an expired one as expired", async () => {
    const token = await mint(key, { sid: "s-out", sub: "u1" });
    await db.put({ records: [session("s-out", "u1")] });
    await until(() => cache.getSession("s-out") !== undefined, "s-out cached");
    expect((await verifier.verify(token)).ok).toBe(true);
    await db.put({ records: [deleted(session("s-out", "u1"))] });
    await until(() => cache.getSession("s-out") === undefined, "s-out deleted in the cache");
    // The replica decides at once; the reason names the sign-out once the end event was seen.
    expect((await verifier.verify(token)).ok).toBe(false);
    await untilAsync(async () => {
      const result = await verifier.verify(token);
      return !result.ok && result.reason === "session-signed-out";
    }, "the refusal to name the sign-out");

    expect(await verifier.verify(await mint(key, { sid: "nobody", sub: "u1" }))).toMatchObject({ ok: false, reason: "session-unknown" });
    expect(await verifier.verify(await mint(key, { sid: "s-expired", sub: "u1" }))).toMatchObject({ ok: false, reason: "session-expired" });
    expect(await verifier.verify(await mint(key, { sid: "s1", sub: "someone-else" }))).toMatchObject({ ok: false, reason: "session-mismatch" });
  });

  it("checks iss, aud, exp and iat against configured values, with the leeway", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await verifier.verify(await mint(key, { sid: "s1", sub: "u1", extra: { iss: "evil.example.com" } }))).toMatchObject({ reason: "wrong-issuer" });
    expect(await verifier.verify(await mint(key, { sid: "s1", sub: "u1", extra: { aud: "other.example.com" } }))).toMatchObject({ reason: "wrong-audience" });
    expect(await verifier.verify(await mint(key, { sid: "s1", sub: "u1", iatSec: now - 400 }))).toMatchObject({ reason: "expired" });
    // exp 2 s ago is inside the 5 s leeway; 10 s ago is not.
    expect((await verifier.verify(await mint(key, { sid: "s1", sub: "u1", iatSec: now - 302 }))).ok).toBe(true);
    expect(await verifier.verify(await mint(key, { sid: "s1", sub: "u1", iatSec: now - 310 }))).toMatchObject({ reason: "expired" });
    expect(await verifier.verify(await mint(key, { sid: "s1", sub: "u1", iatSec: now + 60 }))).toMatchObject({ reason: "issued-in-future" });
  });

  it("refuses bad input with a reason and never throws", async () => {
    const good = await mint(key, { sid: "s1", sub: "u1" });
    const [h, p, s] = good.split(".") as [string, string, string];
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const other = await newSigningKey(key.kid);
    const cases: Array<[unknown, string]> = [
      [undefined, "missing"],
      ["", "missing"],
      [42, "malformed"],
      [{ token: good }, "malformed"],
      ["not.a.jwt!", "malformed"],
      ["a.b", "malformed"],
      [`${h}.${p}`, "malformed"],
      [`!!!.${p}.${s}`, "malformed"],
      [`${enc([1, 2])}.${p}.${s}`, "malformed"],
      [`${h}.${p}.${s.slice(0, -4)}AAAA`, "bad-signature"],
      [await mint(other, { sid: "s1", sub: "u1" }), "bad-signature"],
      [`${h}.${enc({ sub: "u1", sid: "s1" })}.${s}`, "bad-signature"],
      [`${enc({ alg: "none", typ: "JWT" })}.${p}.`, "malformed"],
      [`${enc({ alg: "none", typ: "JWT" })}.${p}.${s}`, "unsupported-algorithm"],
      [`${enc({ alg: "ES256", typ: "at+jwt", kid: key.kid })}.${p}.${s}`, "wrong-type"],
      [`${enc({ alg: "ES256", kid: key.kid })}.${p}.${s}`, "wrong-type"],
      ["a".repeat(70_000) + ".b.c", "too-large"],
      [await mint(key, { sid: "s1", sub: "u1" }, { kid: "unknown-kid" }), "unknown-key"],
      [await mint(key, { sid: "s1", sub: "u1", extra: { sid: 7 } }), "malformed"],
      [await mint(key, { sid: "s1", sub: "u1", extra: { groups: "admins" } }), "malformed"],
    ];
    // HS256 signed with the public key's bytes as the secret (the classic key-confusion attack).
    const hsSecret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    cases.push([await new SignJWT({ iss: HOST, aud: HOST, sub: "u1", sid: "s1", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 }).setProtectedHeader({ alg: "HS256", typ: "JWT", kid: key.kid }).sign(hsSecret), "unsupported-algorithm"]);
    for (const [token, reason] of cases) {
      const result = await verifier.verify(token);
      expect({ token: String(token).slice(0, 60), result: result.ok ? "ok" : result.reason }).toEqual({ token: String(token).slice(0, 60), result: reason });
    }
  });

  it("refuses settings that can never be safe", () => {
    expect(() => createAssertionVerifier(cache, { issuer: "", audience: HOST, jwks: { keys: [] } })).toThrow(/issuer/);
    expect(() => createAssertionVerifier(cache, { issuer: HOST, audience: [], jwks: { keys: [] } })).toThrow(/audience/);
    expect(() => createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: { keys: [] }, algorithms: ["HS256" as "ES256"] })).toThrow(/never "none" or HS/);
    expect(() => createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: "ftp://x" })).toThrow(/jwks/);
  });
});

describe("createAssertionVerifier: a remote JWKS", () => {
  let endpoint: JwksEndpoint;
  beforeAll(async () => {
    endpoint = await startJwksEndpoint([key]);
    cleanups.add(() => endpoint.close());
  });

  it("fetches once, then verifies a known key with no request; picks up a rotated key on its first token", async () => {
    const remote = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: endpoint.url, jwksCooldownMs: 0 });
    cleanups.add(() => remote.close());
    const before = endpoint.requests;
    for (let i = 0; i < 5; i++) expect((await remote.verify(await mint(key, { sid: "s1", sub: "u1" }))).ok).toBe(true);
    expect(endpoint.requests - before).toBe(1);

    // Rotation as Pomerium does it: the new key signs, the old one is still listed.
    const next = await newSigningKey();
    endpoint.keys = [next, key];
    expect((await remote.verify(await mint(next, { sid: "s1", sub: "u1" }))).ok).toBe(true);
    expect((await remote.verify(await mint(key, { sid: "s1", sub: "u1" }))).ok).toBe(true);
    expect(endpoint.requests - before).toBe(2);
  });

  it("keeps verifying known keys while the endpoint is down, hangs or answers garbage; unknown keys are refused, fetched at most once per cooldown", async () => {
    // A clock the test moves: each failing mode starts one cooldown after the last fetch.
    let now = Date.now();
    const clock = { now: () => now };
    const remote = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: endpoint.url, clock, jwksCooldownMs: 60_000, jwksTimeoutMs: 200, jwksRefreshIntervalMs: 1 });
    cleanups.add(() => remote.close());
    endpoint.keys = [key];
    endpoint.mode = "serve";
    expect((await remote.verify(await mint(key, { sid: "s1", sub: "u1" }))).ok).toBe(true);
    const stranger = await newSigningKey();
    for (const mode of ["down", "garbage", "hang"] as const) {
      endpoint.mode = mode;
      now += 60_001;
      const before = endpoint.requests;
      // The set is older than the refresh interval and the cooldown has passed: a background
      // refresh starts, and fails; the known key keeps verifying meanwhile and after.
      expect((await remote.verify(await mint(key, { sid: "s1", sub: "u1" }))).ok).toBe(true);
      await until(() => endpoint.requests - before === 1, `the ${mode} endpoint's refresh request`);
      // Unknown keys within the cooldown: refused, with no fetch of their own.
      expect(await remote.verify(await mint(stranger, { sid: "s1", sub: "u1" }))).toMatchObject({ reason: "unknown-key" });
      expect(await remote.verify(await mint(stranger, { sid: "s1", sub: "u1" }))).toMatchObject({ reason: "unknown-key" });
      expect((await remote.verify(await mint(key, { sid: "s1", sub: "u1" }))).ok).toBe(true);
      expect(endpoint.requests - before, `requests to the ${mode} endpoint within one cooldown`).toBe(1);
    }
    endpoint.mode = "serve";
  });

  it("asks a failing endpoint at most once per cooldown however many tokens arrive (a failed refresh does not start the next one)", async () => {
    let now = Date.now();
    const clock = { now: () => now };
    const remote = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: endpoint.url, clock, jwksCooldownMs: 60_000, jwksRefreshIntervalMs: 1_000 });
    cleanups.add(() => remote.close());
    endpoint.keys = [key];
    endpoint.mode = "serve";
    const token = await mint(key, { sid: "s1", sub: "u1" });
    expect((await remote.verify(token)).ok).toBe(true);
    endpoint.mode = "down";
    now += 60_001;
    const before = endpoint.requests;
    const answeredBefore = endpoint.answered;
    expect((await remote.verify(token)).ok).toBe(true);
    await until(() => endpoint.requests - before === 1 && endpoint.answered - answeredBefore === 1, "the down endpoint's answer to the refresh");
    // Each verification finds the set older than the refresh interval; the refresh before failed.
    // Without the cooldown, each one after the failure would start a fetch of its own.
    for (let i = 0; i < 30; i++) {
      now += 1_000;
      expect((await remote.verify(token)).ok).toBe(true);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(endpoint.requests - before, "requests to the down endpoint within one cooldown").toBe(1);
    // One cooldown after the failed attempt, the next verification tries again.
    now += 60_000;
    expect((await remote.verify(token)).ok).toBe(true);
    await until(() => endpoint.requests - before === 2, "the refresh one cooldown later");
    endpoint.mode = "serve";
  });

  it("says keys-unavailable when no set was ever fetched, and recovers once the endpoint answers", async () => {
    endpoint.mode = "garbage";
    const remote = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: endpoint.url, jwksCooldownMs: 0, jwksTimeoutMs: 200 });
    cleanups.add(() => remote.close());
    const token = await mint(key, { sid: "s1", sub: "u1" });
    expect(await remote.verify(token)).toMatchObject({ reason: "keys-unavailable" });
    endpoint.mode = "down";
    expect(await remote.verify(token)).toMatchObject({ reason: "keys-unavailable" });
    endpoint.mode = "hang";
    expect(await remote.verify(token)).toMatchObject({ reason: "keys-unavailable" });
    endpoint.mode = "serve";
    expect((await remote.verify(token)).ok).toBe(true);
  });
});
