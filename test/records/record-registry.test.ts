import { describe, expect, it } from "vitest";
import { knownDataRegistry } from "../../src/query/data-registry.js";
import { recordRegistry, schemaForTypeUrl } from "../../src/records/record-registry.js";
import { decodeRecordData, decodeSession, decodeUser } from "../../src/records/decode-record-data.js";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { SessionSchema } from "../../gen/session/session_pb.js";

const names = (r: Iterable<{ kind: string; typeName: string }>): string[] =>
  [...r].filter((d) => d.kind === "message").map((d) => d.typeName).sort();

describe("record registry", () => {
  it("is the one registry the server decodes with, and holds Pomerium's record types and Struct", () => {
    expect(knownDataRegistry).toBe(recordRegistry);
    expect(names(recordRegistry)).toEqual(
      expect.arrayContaining([
        "google.protobuf.Struct",
        "session.IdentityBinding",
        "session.Session",
        "session.SessionBinding",
        "session.SessionBindingRequest",
        "user.ServiceAccount",
        "user.User",
      ]),
    );
  });

  it("resolves type URLs by the name after the last slash", () => {
    expect(schemaForTypeUrl(SESSION_TYPE)?.typeName).toBe("session.Session");
    expect(schemaForTypeUrl("example.com/x/user.User")?.typeName).toBe("user.User");
    expect(schemaForTypeUrl("type.googleapis.com/oauth21.UpstreamMCPToken")).toBeUndefined();
  });

  it("decodes typed data and refuses other types, unknown types and malformed bytes", () => {
    const bytes = toBinary(SessionSchema, create(SessionSchema, { id: "s", userId: "u" }));
    expect(decodeSession(SESSION_TYPE, bytes)?.userId).toBe("u");
    expect(decodeUser(SESSION_TYPE, bytes)).toBeUndefined();
    expect(decodeRecordData("type.googleapis.com/nope.Nope", bytes)).toBeUndefined();
    expect(decodeRecordData(USER_TYPE, new Uint8Array([0x0a, 0x7f]))).toBeUndefined();
  });
});
