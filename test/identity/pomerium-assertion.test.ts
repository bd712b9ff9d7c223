/**
 * Assertions minted by Pomerium's code, not ours: the Go peer (interop/pomerium) derives the
 * claims from the session and user stored in its own databroker, as Pomerium's headers evaluator
 * does, signs them with the key Pomerium's cryptutil loads from a `signing_key` value, and serves
 * the public keys as Pomerium serves `/.well-known/pomerium/jwks.json`. The cache syncs from that
 * same peer; the verifier fetches the peer's JWKS.
 */
import { generateKeyPairSync } from "node:crypto";
import { create, fromJson, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { AnySchema, ListValueSchema, StructSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from "jose";
import { filter, firstValueFrom } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { createAssertionVerifier, sessionEnds$, type AssertionVerifier, type DatabrokerCache } from "../../src/index.js";
import { Cleanups, SECRET, cacheFor, deleted, serviceAccount, session, until, user, writer } from "../cache/cache-fixtures.js";
import { requirePomeriumOrExplain } from "../interop/interop-availability.js";
import { NoLiveSessionError, startPomerium, type PomeriumInstance } from "../support/pomerium-harness.js";
import { HOST } from "./assertion-fixtures.js";

const cleanups = new Cleanups();
let pomerium: PomeriumInstance;
let db: ReturnType<typeof writer>;
let cache: DatabrokerCache;
let verifier: AssertionVerifier;
let configuredKid: string;

const strings = (...values: string[]) => create(ListValueSchema, { values: values.map((v) => create(ValueSchema, { kind: { case: "stringValue", value: v } })) });

/** A directory sync record (a protobuf Struct), as Pomerium's directory providers store them. */
const directory = (type: "pomerium.io/DirectoryUser" | "pomerium.io/DirectoryGroup", id: string, fields: JsonObject) =>
  create(RecordSchema, {
    type,
    id,
    data: create(AnySchema, { typeUrl: `type.googleapis.com/${StructSchema.typeName}`, value: toBinary(StructSchema, fromJson(StructSchema, fields)) }),
  });

/** Hex of the key's RFC 7638 SHA-256 thumbprint: the kid Pomerium gives a key of its signing_key. */
async function pomeriumKid(publicJwk: JWK): Promise<string> {
  return Buffer.from(await calculateJwkThumbprint(publicJwk, "sha256"), "base64url").toString("hex");
}

beforeAll(async () => {
  await requirePomeriumOrExplain();
  // A signing_key value as an operator writes it: base64 of an EC private key PEM.
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pemKey = privateKey.export({ type: "sec1", format: "pem" }).toString();
  configuredKid = await pomeriumKid(publicKey.export({ format: "jwk" }) as JWK);
  pomerium = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "assertions", signingKey: Buffer.from(pemKey).toString("base64") });
  cleanups.add(() => pomerium.stop());
  db = writer(pomerium.url);
  await db.put({
    records: [
      session("s1", "u1", { claims: { groups: strings("admins", "ops"), name: strings("Ada", "Lovelace") } }),
      user("u1", "ada@example.com", "Ada"),
      serviceAccount("sa1", "u2"),
    ],
  });
  cache = cacheFor(cleanups, pomerium.url);
  await cache.ready({ timeoutMs: 10_000 });
  verifier = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: pomerium.jwksUrl });
  cleanups.add(() => verifier.close());
}, 30 * 60_000);
afterAll(() => cleanups.run());

describe("assertions minted by Pomerium's code", () => {
  it("accepts a Pomerium-minted assertion with the session and user from the replica", async () => {
    const { assertion, kid } = await pomerium.mintAssertion({ sessionId: "s1", host: HOST });
    expect(kid).toBe(configuredKid);
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: "ES256", kid, typ: "JWT" });
    const claims = decodeJwt(assertion);
    expect(claims).toMatchObject({ iss: HOST, aud: HOST, sub: "u1", user: "u1", sid: "s1", email: "ada@example.com", groups: ["admins", "ops"], name: "Ada,Lovelace" });
    expect(claims.exp! - claims.iat!).toBe(300);

    const result = await verifier.verify(assertion);
    expect(result.ok ? "ok" : result.reason).toBe("ok");
    if (!result.ok) return;
    expect(result.principal).toBe("session");
    expect(result.identity).toMatchObject({ subject: "u1", sessionId: "s1", email: "ada@example.com", groups: ["admins", "ops"], name: "Ada,Lovelace" });
    expect(result.session?.id).toBe("s1");
    expect(result.user?.email).toBe("ada@example.com");

    // A service account named by sid, and Pomerium's URI issuer format.
    const account = await verifier.verify((await pomerium.mintAssertion({ sessionId: "sa1", host: HOST })).assertion);
    expect(account).toMatchObject({ ok: true, principal: "service-account" });
    const uri = (await pomerium.mintAssertion({ sessionId: "s1", host: HOST, issuerFormat: "uri" })).assertion;
    expect(decodeJwt(uri).iss).toBe(`https://${HOST}/`);
    expect(await verifier.verify(uri)).toMatchObject({ ok: false, reason: "wrong-issuer" });
    const bothIssuers = createAssertionVerifier(cache, { issuer: [HOST, `https://${HOST}/`], audience: HOST, jwks: pomerium.jwksUrl });
    cleanups.add(() => bothIssuers.close());
    expect((await bothIssuers.verify(uri)).ok).toBe(true);
  });

  it("takes email and groups from Pomerium's directory records when they exist, as its headers evaluator does", async () => {
    await db.put({
      records: [
        session("s3", "u3", { claims: { groups: strings("from-the-idp-token") } }),
        user("u3", "grace@old.example.com", "Grace"),
        directory("pomerium.io/DirectoryUser", "u3", { email: "grace@example.com", group_ids: ["g1", "g2"] }),
        directory("pomerium.io/DirectoryGroup", "g1", { name: "Admins" }),
      ],
    });
    await until(() => cache.getSession("s3") !== undefined, "s3 in the replica");
    const { assertion } = await pomerium.mintAssertion({ sessionId: "s3", host: HOST });
    // Group ids, then the names of those that have a group record; the session's own claim is not used.
    // name comes from the session's or the user's claims only, never the user record's name field.
    expect(decodeJwt(assertion)).toMatchObject({ sub: "u3", email: "grace@example.com", groups: ["g1", "g2", "Admins"], name: "" });
    const result = await verifier.verify(assertion);
    expect(result).toMatchObject({ ok: true, identity: { email: "grace@example.com", groups: ["g1", "g2", "Admins"] } });
  });

  it("refuses the assertion as session-signed-out once the session is deleted in Pomerium's databroker, and reports the end", async () => {
    await db.put({ records: [session("s-out", "u1")] });
    await until(() => cache.getSession("s-out") !== undefined, "s-out in the replica");
    const { assertion } = await pomerium.mintAssertion({ sessionId: "s-out", host: HOST });
    expect((await verifier.verify(assertion)).ok).toBe(true);

    const ended = firstValueFrom(sessionEnds$(cache).pipe(filter((end) => end.sessionId === "s-out")));
    await db.put({ records: [deleted(session("s-out", "u1"))] });
    expect(await ended).toMatchObject({ sessionId: "s-out", userId: "u1", reason: "deleted" });
    // The verifier subscribed to the cache's changes earlier, so the same change reached it first.
    expect(await verifier.verify(assertion)).toMatchObject({ ok: false, reason: "session-signed-out" });
    // Pomerium itself mints nothing for it any more (authorize would send the user to sign in).
    await expect(pomerium.mintAssertion({ sessionId: "s-out", host: HOST })).rejects.toBeInstanceOf(NoLiveSessionError);
  });

  it("serves the JWKS with Pomerium's caching headers", async () => {
    const res = await fetch(pomerium.jwksUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("max-age=60");
    expect(res.headers.get("content-type")).toBe("application/json");
    const etag = res.headers.get("etag");
    expect(etag).toMatch(/^"[0-9a-f]+"$/);
    const body = (await res.json()) as { keys: JWK[] };
    expect(body.keys.length).toBeGreaterThan(0);
    for (const key of body.keys) {
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
      expect(key).not.toHaveProperty("d");
      expect(key.kid).toBe(await pomeriumKid(key));
    }
    expect((await fetch(pomerium.jwksUrl, { headers: { "if-none-match": etag! } })).status).toBe(304);
  });

  it("refuses a Pomerium-minted assertion for another audience", async () => {
    // Pomerium makes iss and aud both the route's host: another route's assertion fails the issuer
    // check first; a verifier that trusts both hosts as issuers still refuses it for its audience.
    const { assertion } = await pomerium.mintAssertion({ sessionId: "s1", host: "other.example.com" });
    expect(await verifier.verify(assertion)).toMatchObject({ ok: false, reason: "wrong-issuer" });
    const twoIssuers = createAssertionVerifier(cache, { issuer: [HOST, "other.example.com"], audience: HOST, jwks: pomerium.jwksUrl });
    cleanups.add(() => twoIssuers.close());
    expect(await twoIssuers.verify(assertion)).toMatchObject({ ok: false, reason: "wrong-audience" });
    expect((await twoIssuers.verify((await pomerium.mintAssertion({ sessionId: "s1", host: HOST })).assertion)).ok).toBe(true);
  });

  it("refuses a Pomerium-minted assertion once its five minutes (and the leeway) have passed, by the verifier's clock", async () => {
    const { assertion } = await pomerium.mintAssertion({ sessionId: "s1", host: HOST });
    const exp = decodeJwt(assertion).exp! * 1000;
    let now = exp - 1000;
    const clocked = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: pomerium.jwksUrl, leewaySec: 5, clock: { now: () => now } });
    cleanups.add(() => clocked.close());
    expect((await clocked.verify(assertion)).ok).toBe(true);
    now = exp + 4000; // inside the leeway
    expect((await clocked.verify(assertion)).ok).toBe(true);
    now = exp + 6000;
    expect(await clocked.verify(assertion)).toMatchObject({ ok: false, reason: "expired" });
  });

  // Last: it changes the peer's keys under the verifiers of the tests above.
  it("follows a key rotation: a new kid is fetched from the peer's JWKS and accepted, a removed kid is refused", async () => {
    const rotating = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: pomerium.jwksUrl, jwksCooldownMs: 0 });
    cleanups.add(() => rotating.close());
    const before = await pomerium.mintAssertion({ sessionId: "s1", host: HOST });
    expect((await rotating.verify(before.assertion)).ok).toBe(true);

    // Rotation as an operator does it: the new key signs, the old one stays published.
    const next = await pomerium.rotateSigningKey({ retain: 1 });
    expect(next.published).toEqual([next.kid, before.kid]);
    const after = await pomerium.mintAssertion({ sessionId: "s1", host: HOST });
    expect(after.kid).toBe(next.kid);
    expect((await rotating.verify(after.assertion)).ok).toBe(true);
    expect((await rotating.verify(before.assertion)).ok).toBe(true);

    // The old key is dropped: once the verifier has refetched (here on the first token with the
    // newest kid), the old kid is unknown.
    const last = await pomerium.rotateSigningKey({ retain: 0 });
    expect(last.published).toEqual([last.kid]);
    const latest = await pomerium.mintAssertion({ sessionId: "s1", host: HOST });
    expect((await rotating.verify(latest.assertion)).ok).toBe(true);
    expect(await rotating.verify(before.assertion)).toMatchObject({ ok: false, reason: "unknown-key" });
    expect(await rotating.verify(after.assertion)).toMatchObject({ ok: false, reason: "unknown-key" });
  });
});

