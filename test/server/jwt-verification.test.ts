import { SignJWT, UnsecuredJWT } from "jose";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { verifyDatabrokerJwt } from "../../src/server/jwt-verification.js";
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
});
