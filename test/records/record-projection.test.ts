/** The lean projection's edge cases: what is kept as is, and what happens to data that does not parse. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { DemoRecords } from "../../src/demo/demo-records.js";
import { decodeRecordData } from "../../src/records/decode-record-data.js";
import { LEAN_REFRESH_TOKEN_PLACEHOLDER, leanProjection, leanProjectionTransient, projectionFunction } from "../../src/records/record-projection.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { scanStringField } from "../../src/records/wire-scan.js";

const concat = (...parts: ArrayLike<number>[]) => new Uint8Array(parts.flatMap((p) => Array.from(p)));
const ascii = (s: string) => Array.from(Buffer.from(s, "utf8"));

describe("leanProjection", () => {
  it("shrinks a demo session from ~1.8 KB to about a quarter, keeping claims, audiences and timestamps", () => {
    const session = new DemoRecords({ seed: 1 }).session("session-1", 1);
    const bytes = toBinary(SessionSchema, session);
    const projected = leanProjection(SESSION_TYPE, bytes);
    expect(bytes.length).toBeGreaterThan(1700);
    expect(projected.length).toBeLessThan(600);
    const decoded = fromBinary(SessionSchema, projected);
    expect(decoded.claims).toEqual(session.claims);
    expect(decoded.audience).toEqual(session.audience);
    expect(decoded.oauthToken?.expiresAt).toEqual(session.oauthToken?.expiresAt);
    expect(decoded.oauthToken?.refreshToken).toBe(LEAN_REFRESH_TOKEN_PLACEHOLDER);
    expect(decoded.idToken?.issuer).toBe(session.idToken?.issuer);
    expect(decoded.idToken?.raw).toBe("");
  });

  it("returns the same array for other types and for sessions without secrets", () => {
    const user = toBinary(UserSchema, create(UserSchema, { id: "u", email: "a@example.com" }));
    expect(leanProjection(USER_TYPE, user)).toBe(user);
    expect(leanProjection(SERVICE_ACCOUNT_TYPE, user)).toBe(user);
    const plain = toBinary(
      SessionSchema,
      create(SessionSchema, { id: "s", userId: "u", idToken: { issuer: "i" }, oauthToken: { tokenType: "Bearer", expiresAt: timestampFromMs(1) } }),
    );
    expect(leanProjection(SESSION_TYPE, plain)).toBe(plain);
  });

  it("keeps an empty refresh_token empty, so a session whose token expired stays invalid", () => {
    const session = create(SessionSchema, {
      id: "s",
      oauthToken: { accessToken: "access-secret", expiresAt: timestampFromMs(1_000_000_000_000), refreshToken: "" },
    });
    const decoded = fromBinary(SessionSchema, leanProjection(SESSION_TYPE, toBinary(SessionSchema, session)));
    expect(decoded.oauthToken?.refreshToken).toBe("");
    expect(decoded.oauthToken?.accessToken).toBe("");
  });

  it("keeps unknown fields and field order", () => {
    const known = toBinary(SessionSchema, create(SessionSchema, { id: "s", oauthToken: { accessToken: "secret-token" } }));
    const unknown = [0xf8, 0x06, 0x07]; // field 111, varint 7
    const projected = leanProjection(SESSION_TYPE, concat(unknown, known));
    expect(Array.from(projected.subarray(0, 3))).toEqual(unknown);
    expect(scanStringField(projected, 2)).toBe("s");
  });

  it("replaces a malformed nested token by one unparsable byte: still undecodable, still indexed, secret gone", () => {
    // user_id "u1", then id_token (field 6) holding raw "raw-secret" followed by a truncated varint.
    const idToken = concat([0x2a, 10], ascii("raw-secret"), [0x08, 0xff]);
    const bytes = concat([0x1a, 2], ascii("u1"), [0x32, idToken.length], idToken);
    expect(decodeRecordData(SESSION_TYPE, bytes)).toBeUndefined();
    const projected = leanProjection(SESSION_TYPE, bytes);
    expect(decodeRecordData(SESSION_TYPE, projected)).toBeUndefined();
    expect(scanStringField(projected, 3)).toBe("u1");
    expect(Buffer.from(projected).includes(Buffer.from("raw-secret"))).toBe(false);
  });

  it("replaces data that does not parse at all by one unparsable byte", () => {
    const bytes = concat([0x0a, 20], ascii("access-secret"));
    expect(decodeRecordData(SESSION_TYPE, bytes)).toBeUndefined();
    const projected = leanProjection(SESSION_TYPE, bytes);
    expect(Array.from(projected)).toEqual([0]);
    expect(decodeRecordData(SESSION_TYPE, projected)).toBeUndefined();
  });

  it("handles long fields whose length takes several varint bytes", () => {
    const session = create(SessionSchema, { id: "x".repeat(20_000), idToken: { raw: "r".repeat(70_000), issuer: "i" } });
    const decoded = fromBinary(SessionSchema, leanProjection(SESSION_TYPE, toBinary(SessionSchema, session)));
    expect(decoded.id).toBe(session.id);
    expect(decoded.idToken?.raw).toBe("");
    expect(decoded.idToken?.issuer).toBe("i");
  });
});

describe("projectionFunction", () => {
  it('maps "full" to no projection, "lean" to leanProjection (the transient one for a copying caller) and passes a function through', () => {
    const custom = (_t: string, d: Uint8Array) => d;
    expect(projectionFunction("full")).toBeUndefined();
    expect(projectionFunction("lean")).toBe(leanProjection);
    expect(projectionFunction("lean", true)).toBe(leanProjectionTransient);
    expect(projectionFunction(custom)).toBe(custom);
  });
});
