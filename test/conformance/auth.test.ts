/**
 * Contract: every DataBrokerService and CheckpointService call needs a `jwt` metadata token,
 * HMAC-signed with the shared secret, whose claims are exactly {exp} in the future (spec section 2).
 */
import { Code } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { randomBytes } from "node:crypto";
import { expect, it } from "vitest";

import type { SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { parseSharedSecret, signDatabrokerJwt } from "../../src/transport/shared-secret.js";

import { connectClients, rawTokens, type ClientSet, type TokenSource } from "./clients.js";
import { expectCallError, expectStreamError } from "./expect-error.js";
import { describeTargets, loadTargets, type TargetContext } from "./harness.js";
import { RawGrpcConnection } from "./raw-grpc-call.js";
import { put, SESSION_TYPE, sessionRecord } from "./records.js";
import { StreamReader } from "./stream-reader.js";

const targets = await loadTargets();
const SERVER_INFO = "/databroker.DataBrokerService/ServerInfo";
const UNAUTHENTICATED = 16;

function withToken(ctx: TargetContext, token: TokenSource): ClientSet {
  return ctx.clients(() => connectClients(ctx.target, token));
}

/** Asserts a client is refused on a unary call, a stream and the checkpoint service. */
async function expectRefused(ctx: TargetContext, token: TokenSource, message: string): Promise<void> {
  const { db, checkpoints } = withToken(ctx, token);
  await expectCallError(db.serverInfo({}), Code.Unauthenticated, message);
  await expectCallError(db.get({ type: SESSION_TYPE, id: "s1" }), Code.Unauthenticated, message);
  await expectStreamError(db.syncLatest({ type: "" }), Code.Unauthenticated, message);
  await expectStreamError(db.sync({ serverVersion: 1n, recordVersion: 0n, wait: false }), Code.Unauthenticated, message);
  await expectCallError(checkpoints.getCheckpoint({}), Code.Unauthenticated, message);
}

describeTargets(targets, "authentication", (ctx) => {
  it("accepts a token signed the way Pomerium's clients sign it", async () => {
    await put(ctx.db, sessionRecord("s1"));
    expect((await ctx.db.get({ type: SESSION_TYPE, id: "s1" })).record?.id).toBe("s1");
    expect((await ctx.checkpoints.getCheckpoint({})).isLeader).toBe(false);
  });

  it('refuses a missing token with UNAUTHENTICATED "unauthenticated"', async () => {
    await expectRefused(ctx, rawTokens.missing(), "unauthenticated");
  });

  it('refuses a token signed with another secret with UNAUTHENTICATED "invalid JWT"', async () => {
    await expectRefused(ctx, rawTokens.wrongKey(), "invalid JWT");
  });

  it('refuses a token with an extra numeric claim (iat) with UNAUTHENTICATED "invalid JWT"', async () => {
    await expectRefused(ctx, rawTokens.extraClaim(ctx.target.sharedSecret, { iat: Math.floor(Date.now() / 1000) }), "invalid JWT");
  });

  it('refuses a token with an extra string claim (sub) with UNAUTHENTICATED "invalid JWT"', async () => {
    await expectRefused(ctx, rawTokens.extraClaim(ctx.target.sharedSecret, { sub: "someone" }), "invalid JWT");
  });

  it('refuses an expired token with UNAUTHENTICATED "invalid JWT"', async () => {
    await expectRefused(ctx, rawTokens.expired(ctx.target.sharedSecret, 5), "invalid JWT");
  });

  it('refuses a token without exp with UNAUTHENTICATED "invalid JWT"', async () => {
    await expectRefused(ctx, rawTokens.noClaims(ctx.target.sharedSecret), "invalid JWT");
  });

  it('refuses an unsigned (alg none) token and a non-JWT with UNAUTHENTICATED "invalid JWT"', async () => {
    await expectRefused(ctx, rawTokens.unsigned(), "invalid JWT");
    await expectRefused(ctx, rawTokens.garbage(), "invalid JWT");
  });

  it("accepts an HS512 token signed with the shared secret (go-jose v3 takes any HMAC algorithm)", async () => {
    const { db } = withToken(ctx, rawTokens.hs512(ctx.target.sharedSecret));
    expect(typeof (await db.serverInfo({})).serverVersion).toBe("bigint");
  });

  it('refuses a jwt field holding a valid token followed by ", junk" (the field is the token, whole)', async () => {
    await expectRefused(ctx, rawTokens.validThen(ctx.target.sharedSecret, ", junk"), "invalid JWT");
  });

  it("reads the first of several jwt header fields, whole", async () => {
    const raw = new RawGrpcConnection(ctx.target.url);
    try {
      const valid = await signDatabrokerJwt(parseSharedSecret(ctx.target.sharedSecret));
      const first = await raw.call(SERVER_INFO, { jwt: [valid, "junk"] });
      expect([first.grpcStatus, first.messages.length]).toEqual([0, 1]);
      const second = await raw.call(SERVER_INFO, { jwt: ["junk", valid] });
      expect([second.grpcStatus, second.grpcMessage]).toEqual([UNAUTHENTICATED, "invalid JWT"]);
    } finally {
      raw.close();
    }
  });

  it("accepts a valid token with spaces inside it (go-jose strips whitespace before parsing)", async () => {
    const { db } = withToken(ctx, rawTokens.spacedInside(ctx.target.sharedSecret));
    expect(typeof (await db.serverInfo({})).serverVersion).toBe("bigint");
  });

  it("reads the jwt field's bytes as UTF-8: a no-break space (C2 A0) inside is white space too, a byte-order mark is not", async () => {
    const raw = new RawGrpcConnection(ctx.target.url);
    try {
      const valid = await signDatabrokerJwt(parseSharedSecret(ctx.target.sharedSecret));
      // node:http2 sends each character of a header value as one byte (Latin-1).
      const withBytes = (bytes: number[]) => `${valid.slice(0, 10)}${String.fromCharCode(...bytes)}${valid.slice(10)}`;
      const nbsp = await raw.call(SERVER_INFO, { jwt: withBytes([0xc2, 0xa0]) });
      expect([nbsp.grpcStatus, nbsp.messages.length]).toEqual([0, 1]);
      const bom = await raw.call(SERVER_INFO, { jwt: withBytes([0xef, 0xbb, 0xbf]) });
      expect([bom.grpcStatus, bom.grpcMessage]).toEqual([UNAUTHENTICATED, "invalid JWT"]);
    } finally {
      raw.close();
    }
  });

  it('refuses a token whose exp is 1e300 with UNAUTHENTICATED "invalid JWT"', async () => {
    await expectRefused(ctx, rawTokens.claimsText(ctx.target.sharedSecret, '{"exp":1e300}'), "invalid JWT");
  });

  // go-jose keeps exp as whole int64 seconds, and Go's time.Time counts seconds from year 1 in an
  // int64: an exp above 2^63-1 - 62135596800 = 9223371974719179007 wraps into the distant past.
  it("accepts exp up to int64 max minus the seconds from year 1 to 1970, and refuses the next number", async () => {
    const accepted = withToken(ctx, rawTokens.claimsText(ctx.target.sharedSecret, '{"exp":9223371974719179000}'));
    expect(typeof (await accepted.db.serverInfo({})).serverVersion).toBe("bigint");
    for (const exp of ["9223371974719180000", "9223372036854775807", "1e19"]) {
      const refused = withToken(ctx, rawTokens.claimsText(ctx.target.sharedSecret, `{"exp":${exp}}`));
      await expectCallError(refused.db.serverInfo({}), Code.Unauthenticated, "invalid JWT");
    }
  });

  it("answers a 60 KiB jwt field, and 1,000 jwt fields, with a status (not a refused stream)", async () => {
    const raw = new RawGrpcConnection(ctx.target.url);
    try {
      const big = await raw.call(SERVER_INFO, { jwt: randomBytes(45 * 1024).toString("base64url") });
      expect([big.grpcStatus, big.grpcMessage, big.rstCode]).toEqual([UNAUTHENTICATED, "invalid JWT", 0]);
      const junkFirst = await raw.call(SERVER_INFO, { jwt: Array.from({ length: 1000 }, (_, i) => `junk-${i}`) });
      expect([junkFirst.grpcStatus, junkFirst.grpcMessage, junkFirst.rstCode]).toEqual([UNAUTHENTICATED, "invalid JWT", 0]);
      const valid = await signDatabrokerJwt(parseSharedSecret(ctx.target.sharedSecret));
      const validFirst = await raw.call(SERVER_INFO, { jwt: [valid, ...Array.from({ length: 999 }, (_, i) => `junk-${i}`)] });
      expect([validFirst.grpcStatus, validFirst.messages.length]).toEqual([0, 1]);
      expect(raw.sessionError).toBeUndefined();
    } finally {
      raw.close();
    }
  });

  it("checks the token only when a stream opens: a Sync outlives its token's exp", async () => {
    const info = await ctx.db.serverInfo({});
    const key = parseSharedSecret(ctx.target.sharedSecret);
    // One token for every call: it expires 2 s from now.
    const token = await new SignJWT({ exp: Math.floor(Date.now() / 1000) + 2 })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(key);
    const shortLived: TokenSource = async () => token;
    const { db } = withToken(ctx, shortLived);
    const reader = new StreamReader<SyncResponse>((signal) =>
      db.sync({ serverVersion: info.serverVersion, recordVersion: info.latestRecordVersion }, { signal }),
    );
    try {
      await reader.expectSilence(3_200);
      await put(ctx.db, sessionRecord("after-exp"));
      const msg = await reader.next();
      expect(msg.response.case === "record" && msg.response.value.id).toBe("after-exp");
      // A new call with that token is refused by now.
      await expectCallError(db.serverInfo({}), Code.Unauthenticated, "invalid JWT");
    } finally {
      reader.cancel();
    }
  });

  it("changes nothing when a write is refused", async () => {
    await put(ctx.db, sessionRecord("kept"));
    const before = await ctx.db.serverInfo({});
    const { db } = withToken(ctx, rawTokens.wrongKey());
    await expectCallError(db.put({ records: [sessionRecord("s1")] }), Code.Unauthenticated, "invalid JWT");
    await expectCallError(db.clear({}), Code.Unauthenticated, "invalid JWT");
    await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "s1" }), Code.NotFound, "record not found");
    const after = await ctx.db.serverInfo({});
    expect(after.serverVersion).toBe(before.serverVersion);
    expect(after.latestRecordVersion).toBe(before.latestRecordVersion);
    expect((await ctx.db.get({ type: SESSION_TYPE, id: "kept" })).record?.id).toBe("kept");
  });
});
