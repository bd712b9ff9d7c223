/**
 * Contract: every DataBrokerService and CheckpointService call needs a `jwt` metadata token,
 * HMAC-signed with the shared secret, whose claims are exactly {exp} in the future (spec section 2).
 */
import { Code } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { expect, it } from "vitest";

import type { SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { parseSharedSecret } from "../../src/transport/shared-secret.js";

import { connectClients, rawTokens, type ClientSet, type TokenSource } from "./clients.js";
import { expectCallError, expectStreamError } from "./expect-error.js";
import { describeTargets, loadTargets, type TargetContext } from "./harness.js";
import { put, SESSION_TYPE, sessionRecord } from "./records.js";
import { StreamReader } from "./stream-reader.js";

const targets = await loadTargets();

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
