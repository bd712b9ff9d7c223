import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type UnaryRequest } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DataBrokerService, GetRequestSchema } from "../../gen/databroker/databroker_pb.js";
import { JWT_FIELD, jwtAuthInterceptor } from "../../src/server/jwt-auth-interceptor.js";
import { VerifiedJwtCache } from "../../src/server/verified-jwt-cache.js";
import { signDatabrokerJwt } from "../../src/transport/shared-secret.js";

describe("VerifiedJwtCache", () => {
  it("knows a remembered token until its expiry, inclusive, and forgets it after", () => {
    const cache = new VerifiedJwtCache();
    cache.add("t", 5000);
    expect(cache.isValid("t", 5000)).toBe(true);
    expect(cache.isValid("other", 0)).toBe(false);
    expect(cache.isValid("t", 5001)).toBe(false);
    expect(cache.size).toBe(0);
  });

  it("holds at most its capacity, dropping the oldest first", () => {
    const cache = new VerifiedJwtCache(2);
    cache.add("a", 1e15);
    cache.add("b", 1e15);
    cache.add("c", 1e15);
    expect(cache.size).toBe(2);
    expect(cache.isValid("a", 0)).toBe(false);
    expect(cache.isValid("b", 0)).toBe(true);
    expect(cache.isValid("c", 0)).toBe(true);
    expect(() => new VerifiedJwtCache(0)).toThrow(RangeError);
  });
});

describe("jwtAuthInterceptor with remembered tokens", () => {
  const key = new Uint8Array(randomBytes(32));
  const method = DataBrokerService.method.get;
  const request = (jwt: string | undefined) => {
    const header = new Headers();
    if (jwt !== undefined) header.set("jwt", jwt);
    const contextValues = createContextValues();
    if (jwt !== undefined) contextValues.set(JWT_FIELD, jwt);
    return {
      stream: false,
      service: DataBrokerService,
      method,
      requestMethod: "POST",
      url: "http://127.0.0.1/databroker.DataBrokerService/Get",
      signal: new AbortController().signal,
      header,
      contextValues,
      message: create(GetRequestSchema, { type: "t", id: "i" }),
    } as unknown as UnaryRequest;
  };

  it("accepts a remembered token only until it expires, and never a wrong one", async () => {
    let nowMs = 1_700_000_000_000;
    let calls = 0;
    const handler = jwtAuthInterceptor(key, new Set([DataBrokerService.typeName]), () => nowMs)(async () => {
      calls++;
      return {} as never;
    });
    const token = await signDatabrokerJwt(key, nowMs);
    await handler(request(token));
    await handler(request(token)); // remembered
    expect(calls).toBe(2);
    nowMs += 3600_000; // exactly at exp: still accepted (go-jose: rejected only once now is after exp)
    await handler(request(token));
    nowMs += 1;
    await expect(handler(request(token))).rejects.toMatchObject({ code: Code.Unauthenticated });
    const wrong = await signDatabrokerJwt(new Uint8Array(randomBytes(32)), nowMs);
    await expect(handler(request(wrong))).rejects.toBeInstanceOf(ConnectError);
    await expect(handler(request(wrong))).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(calls).toBe(3);
  });
});
