import { create } from "@bufbuild/protobuf";
import type { UnaryRequest } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DataBrokerService, GetRequestSchema } from "../../gen/databroker/databroker_pb.js";
import { createJwtInterceptor } from "../../src/transport/jwt-interceptor.js";
import { JWT_METADATA_KEY, signDatabrokerJwt } from "../../src/transport/shared-secret.js";

const key = new Uint8Array(randomBytes(32));

function request(): UnaryRequest {
  return {
    stream: false,
    service: DataBrokerService,
    method: DataBrokerService.method.get,
    requestMethod: "POST",
    url: "http://127.0.0.1/databroker.DataBrokerService/Get",
    signal: new AbortController().signal,
    header: new Headers(),
    contextValues: undefined,
    message: create(GetRequestSchema, { type: "t", id: "i" }),
  } as unknown as UnaryRequest;
}

describe("createJwtInterceptor", () => {
  it("sends exactly the token a fresh signature would give: the same within a second, a new one the next", async () => {
    let nowMs = 1_700_000_000_250;
    const seen: string[] = [];
    const call = createJwtInterceptor(key, () => nowMs)(async (req) => {
      seen.push(req.header.get(JWT_METADATA_KEY) ?? "");
      return {} as never;
    });
    await call(request());
    nowMs += 700; // same second
    await call(request());
    nowMs += 100; // the next second
    await call(request());
    expect(seen[0]).toBe(await signDatabrokerJwt(key, 1_700_000_000_250));
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(await signDatabrokerJwt(key, nowMs));
    expect(seen[2]).not.toBe(seen[0]);
  });
});
