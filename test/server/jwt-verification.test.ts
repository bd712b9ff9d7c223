import { CompactSign, SignJWT, UnsecuredJWT } from "jose";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MAX_EXP_SECONDS, verifyDatabrokerJwt } from "../../src/server/jwt-verification.js";
import { signDatabrokerJwt } from "../../src/transport/shared-secret.js";

const key = new Uint8Array(randomBytes(32));
const nowMs = 1_700_000_000_000;
const nowS = nowMs / 1000;

async function sign(payload: Record<string, unknown>, alg = "HS256", signingKey = key): Promise<string> {
  return new SignJWT(payload as never).setProtectedHeader({ alg, typ: "JWT" }).sign(signingKey);
}

describe("verifyDatabrokerJwt", () => {
  it("accepts a token signed the way Pomerium's clients sign", async () => {
    expect(await verifyDatabrokerJwt(await signDatabrokerJwt(key, nowMs), key, nowMs)).toEqual({ ok: true, expiryMs: (nowS + 3600) * 1000 });
  });

  it("accepts HS384 and HS512, as go-jose v3 does with a byte key", async () => {
    expect((await verifyDatabrokerJwt(await sign({ exp: nowS + 60 }, "HS384"), key, nowMs)).ok).toBe(true);
    expect((await verifyDatabrokerJwt(await sign({ exp: nowS + 60 }, "HS512"), key, nowMs)).ok).toBe(true);
  });

  it("rejects a wrong key, an unsigned token and garbage", async () => {
    const other = new Uint8Array(randomBytes(32));
    expect((await verifyDatabrokerJwt(await sign({ exp: nowS + 60 }, "HS256", other), key, nowMs)).ok).toBe(false);
    expect((await verifyDatabrokerJwt(new UnsecuredJWT({ exp: nowS + 60 }).encode(), key, nowMs)).ok).toBe(false);
    expect((await verifyDatabrokerJwt("", key, nowMs)).ok).toBe(false);
    expect((await verifyDatabrokerJwt("a.b.c", key, nowMs)).ok).toBe(false);
  });

  it("requires exactly one numeric exp claim", async () => {
    expect((await verifyDatabrokerJwt(await sign({ exp: nowS + 60, iat: nowS }), key, nowMs)).ok).toBe(false);
    expect((await verifyDatabrokerJwt(await sign({ exp: nowS + 60, sub: "x" }), key, nowMs)).ok).toBe(false);
    expect((await verifyDatabrokerJwt(await sign({ exp: String(nowS + 60) }), key, nowMs)).ok).toBe(false);
    expect((await verifyDatabrokerJwt(await sign({}), key, nowMs)).ok).toBe(false);
    expect((await verifyDatabrokerJwt(await sign({ exp: null }), key, nowMs)).ok).toBe(false);
  });

  it("rejects an expired token with no leeway, keeping whole seconds of exp", async () => {
    expect((await verifyDatabrokerJwt(await sign({ exp: nowS }), key, nowMs)).ok).toBe(true);
    expect((await verifyDatabrokerJwt(await sign({ exp: nowS }), key, nowMs + 1)).ok).toBe(false);
    expect((await verifyDatabrokerJwt(await sign({ exp: nowS + 0.9 }), key, nowMs + 1)).ok).toBe(false);
  });

  it("takes exp up to what Go's time holds, and refuses a larger one as expired (it wraps into the past)", async () => {
    const claims = (text: string) => new CompactSign(new TextEncoder().encode(text)).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
    expect(MAX_EXP_SECONDS).toBe(9223371974719179007n);
    // 9223371974719179000 parses to 9223371974719178752, the largest double within the bound.
    expect((await verifyDatabrokerJwt(await claims('{"exp":9223371974719179000}'), key, nowMs)).ok).toBe(true);
    for (const exp of ["9223371974719180000", "9223372036854775807", "1e19", "1e300"]) {
      expect(await verifyDatabrokerJwt(await claims(`{"exp":${exp}}`), key, nowMs)).toMatchObject({ ok: false, reason: expect.stringMatching(/beyond/) });
    }
    expect((await verifyDatabrokerJwt(await claims('{"exp":1e400}'), key, nowMs)).ok).toBe(false);
  });

  it("drops white space anywhere in the token first, as go-jose does (Go's notion of white space)", async () => {
    const token = await signDatabrokerJwt(key, nowMs);
    const at = (ws: string) => `${ws}${token.slice(0, 7)}${ws}${token.slice(7, 40)}${ws}${token.slice(40)}${ws}`;
    for (const ws of [" ", "\t", "\n", "\u0085", "\u00a0", "\u2003", "\u3000"]) expect((await verifyDatabrokerJwt(at(ws), key, nowMs)).ok).toBe(true);
    // Not white space to Go.
    for (const other of ["\ufeff", "\u200b", ","]) expect((await verifyDatabrokerJwt(at(other), key, nowMs)).ok).toBe(false);
  });
});
