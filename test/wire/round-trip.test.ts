/**
 * Our generated code (protobuf-es) and an independent decoder (protobufjs reading proto/*.proto)
 * must agree on every byte: what one writes the other reads back identically, both ways.
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";

import {
  CheckpointSchema,
  OptionsSchema,
  QueryRequestSchema,
  RecordSchema,
  SyncLatestResponseSchema,
  SyncRequestSchema,
  SyncResponseSchema,
} from "../../gen/databroker/databroker_pb.js";
import {
  HandleSchema,
  Session_DeviceCredentialSchema,
  SessionBindingRequestSchema,
  SessionBindingRequestState,
  SessionSchema,
} from "../../gen/session/session_pb.js";
import { ServiceAccountSchema, UserSchema } from "../../gen/user/user_pb.js";
import { decodeIndependently, encodeIndependently } from "./independent-codec.js";

const U64_MAX = 2n ** 64n - 1n;
const ABOVE_2_53 = 2n ** 53n + 1n;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/**
 * ours -> bytes -> independent decode equals `plain`; plain -> independent encode -> ours decode
 * equals `ours`. With sameBytes, both encoders must also produce identical bytes.
 */
function expectRoundTrip<S extends DescMessage>(
  schema: S,
  ours: MessageShape<S>,
  plain: Record<string, unknown>,
  options: { sameBytes?: boolean } = {},
): void {
  const ourBytes = toBinary(schema, ours);
  expect(decodeIndependently(schema.typeName, ourBytes)).toEqual(plain);
  // protobufjs hands out a Node Buffer; copy it so decoded bytes fields are plain Uint8Arrays.
  const theirBytes = Uint8Array.from(encodeIndependently(schema.typeName, plain));
  expect(fromBinary(schema, theirBytes)).toEqual(ours);
  if (options.sameBytes === true) expect(hex(ourBytes)).toBe(hex(theirBytes));
}

const session = create(SessionSchema, {
  version: "v1",
  id: "session-1",
  userId: "user-1",
  expiresAt: timestampFromMs(Date.UTC(2030, 0, 2, 3, 4, 5, 678)),
  idToken: { issuer: "https://idp", subject: "sub", raw: "raw-token", issuedAt: { seconds: -1n, nanos: 999_999_999 } },
  oauthToken: { accessToken: "at", tokenType: "Bearer", refreshToken: "rt" },
  claims: {
    groups: { values: [{ kind: { case: "stringValue", value: "admins" } }, { kind: { case: "numberValue", value: 1.5 } }] },
    flags: { values: [{ kind: { case: "boolValue", value: true } }, { kind: { case: "nullValue", value: 0 } }] },
    nested: { values: [{ kind: { case: "listValue", value: { values: [{ kind: { case: "stringValue", value: "x" } }] } } }] },
  },
  audience: ["a", "b", ""],
  impersonateSessionId: "",
  deviceCredentials: [
    { typeId: "t1", credential: { case: "unavailable", value: {} } },
    { typeId: "t2", credential: { case: "id", value: "" } },
    { typeId: "t3", credential: { case: "id", value: "cred-3" } },
  ],
  refreshDisabled: true,
  idpId: "idp-1",
});

const sessionPlain = {
  version: "v1",
  id: "session-1",
  user_id: "user-1",
  expires_at: { seconds: String(Math.floor(Date.UTC(2030, 0, 2, 3, 4, 5) / 1000)), nanos: 678_000_000 },
  id_token: { issuer: "https://idp", subject: "sub", raw: "raw-token", issued_at: { seconds: "-1", nanos: 999_999_999 } },
  oauth_token: { access_token: "at", token_type: "Bearer", refresh_token: "rt" },
  claims: {
    groups: { values: [{ stringValue: "admins" }, { numberValue: 1.5 }] },
    flags: { values: [{ boolValue: true }, { nullValue: "NULL_VALUE" }] },
    nested: { values: [{ listValue: { values: [{ stringValue: "x" }] } }] },
  },
  audience: ["a", "b", ""],
  impersonate_session_id: "",
  device_credentials: [
    { type_id: "t1", unavailable: {} },
    { type_id: "t2", id: "" },
    { type_id: "t3", id: "cred-3" },
  ],
  refresh_disabled: true,
  idp_id: "idp-1",
};

describe("wire round trip: our generated code vs protobufjs reading proto/", () => {
  it("agrees on a Session with maps of ListValue, oneofs, optional presence, repeated fields and timestamps", () => {
    expectRoundTrip(SessionSchema, session, sessionPlain);
  });

  it("agrees on a Record holding Any(Session) with a version above 2^53 and both timestamps", () => {
    const data = anyPack(SessionSchema, session);
    const record = create(RecordSchema, {
      version: U64_MAX,
      type: "type.googleapis.com/session.Session",
      id: "session-1",
      data,
      modifiedAt: { seconds: 1_700_000_000n, nanos: 1 },
      deletedAt: { seconds: 1_700_000_001n, nanos: 0 },
    });
    expectRoundTrip(RecordSchema, record, {
      version: "18446744073709551615",
      type: "type.googleapis.com/session.Session",
      id: "session-1",
      data: { type_url: "type.googleapis.com/session.Session", value: b64(data.value) },
      modified_at: { seconds: "1700000000", nanos: 1 },
      deleted_at: { seconds: "1700000001" },
    });
    // The Any payload itself decodes independently to the same session.
    expect(decodeIndependently("session.Session", data.value)).toEqual(sessionPlain);
    // And a payload written independently unpacks with our code.
    const theirs = Uint8Array.from(encodeIndependently("session.Session", sessionPlain));
    const unpacked = anyUnpack(create(RecordSchema, { data: { typeUrl: data.typeUrl, value: theirs } }).data!, SessionSchema);
    expect(unpacked).toEqual(session);
  });

  it("keeps a device credential's oneof case even when its value is the empty string", () => {
    const cred = create(Session_DeviceCredentialSchema, { typeId: "t", credential: { case: "id", value: "" } });
    expect(hex(toBinary(Session_DeviceCredentialSchema, cred))).toBe("0a01741a00");
    expectRoundTrip(Session_DeviceCredentialSchema, cred, { type_id: "t", id: "" }, { sameBytes: true });
    const none = create(Session_DeviceCredentialSchema, { typeId: "t" });
    expectRoundTrip(Session_DeviceCredentialSchema, none, { type_id: "t" }, { sameBytes: true });
  });

  it("agrees on each SyncLatestResponse oneof case", () => {
    const rec = create(SyncLatestResponseSchema, {
      response: { case: "record", value: { version: ABOVE_2_53, type: "t", id: "i" } },
    });
    expectRoundTrip(SyncLatestResponseSchema, rec, { record: { version: "9007199254740993", type: "t", id: "i" } }, { sameBytes: true });

    const versions = create(SyncLatestResponseSchema, {
      response: { case: "versions", value: { serverVersion: U64_MAX - 4n, latestRecordVersion: 0n } },
    });
    // An empty submessage is still present: the case survives.
    expectRoundTrip(SyncLatestResponseSchema, versions, { versions: { server_version: "18446744073709551611" } }, { sameBytes: true });
    const emptyVersions = create(SyncLatestResponseSchema, { response: { case: "versions", value: {} } });
    expectRoundTrip(SyncLatestResponseSchema, emptyVersions, { versions: {} }, { sameBytes: true });

    const options = create(SyncLatestResponseSchema, {
      response: {
        case: "options",
        value: { typeURL: "type.googleapis.com/session.Session", options: { capacity: 0n, indexableFields: ["user_id", "id"] } },
      },
    });
    expectRoundTrip(
      SyncLatestResponseSchema,
      options,
      { options: { typeURL: "type.googleapis.com/session.Session", options: { capacity: "0", indexable_fields: ["user_id", "id"] } } },
      { sameBytes: true },
    );
  });

  it("agrees on SyncResponse's record and options cases", () => {
    const msg = create(SyncResponseSchema, { response: { case: "options", value: { typeURL: "x", options: { ttl: durationFromMs(900_000) } } } });
    expectRoundTrip(SyncResponseSchema, msg, { options: { typeURL: "x", options: { ttl: { seconds: "900" } } } }, { sameBytes: true });
    const tomb = create(SyncResponseSchema, { response: { case: "record", value: { id: "gone", deletedAt: { seconds: 5n } } } });
    expectRoundTrip(SyncResponseSchema, tomb, { record: { id: "gone", deleted_at: { seconds: "5" } } }, { sameBytes: true });
  });

  it("writes proto3 optional fields when set to their zero value, and not when unset", () => {
    const waitFalse = create(SyncRequestSchema, { serverVersion: U64_MAX, recordVersion: 1n, wait: false });
    expect(hex(toBinary(SyncRequestSchema, waitFalse))).toBe("08ffffffffffffffffff0110012000");
    expectRoundTrip(SyncRequestSchema, waitFalse, { server_version: "18446744073709551615", record_version: "1", wait: false }, { sameBytes: true });
    const waitUnset = create(SyncRequestSchema, { serverVersion: 1n });
    expect(hex(toBinary(SyncRequestSchema, waitUnset))).toBe("0801");
    expectRoundTrip(SyncRequestSchema, waitUnset, { server_version: "1" }, { sameBytes: true });

    const capacityZero = create(OptionsSchema, { capacity: 0n });
    expect(hex(toBinary(OptionsSchema, capacityZero))).toBe("0800");
    expectRoundTrip(OptionsSchema, create(OptionsSchema, {}), {}, { sameBytes: true });

    const handle = create(HandleSchema, {
      id: "h",
      databrokerServerVersion: 0n,
      databrokerRecordVersion: ABOVE_2_53,
      iss: "",
      aud: ["x", "y"],
      exp: { seconds: 10n },
    });
    expectRoundTrip(
      HandleSchema,
      handle,
      { id: "h", databroker_server_version: "0", databroker_record_version: "9007199254740993", iss: "", aud: ["x", "y"], exp: { seconds: "10" } },
      { sameBytes: true },
    );
  });

  it("agrees on a QueryRequest with a Struct filter and the optional hint", () => {
    const req = create(QueryRequestSchema, {
      type: "t",
      query: "q",
      offset: 3n,
      limit: -1n,
      filter: { $or: [{ id: "a" }, { $index: "10.0.0.1" }], n: 1.5, b: false, z: null },
      minimumRecordVersionHint: ABOVE_2_53,
    });
    const decoded = decodeIndependently("databroker.QueryRequest", toBinary(QueryRequestSchema, req));
    expect(decoded).toMatchObject({ type: "t", query: "q", offset: "3", limit: "-1", minimum_record_version_hint: "9007199254740993" });
    expect(decoded["filter"]).toEqual({
      fields: {
        $or: { listValue: { values: [{ structValue: { fields: { id: { stringValue: "a" } } } }, { structValue: { fields: { $index: { stringValue: "10.0.0.1" } } } }] } },
        n: { numberValue: 1.5 },
        b: { boolValue: false },
        z: { nullValue: "NULL_VALUE" },
      },
    });
    const back = fromBinary(QueryRequestSchema, encodeIndependently("databroker.QueryRequest", decoded));
    expect(back).toEqual(req);
  });

  it("agrees on enums and string maps (SessionBindingRequest)", () => {
    const sbr = create(SessionBindingRequestSchema, {
      protocol: "ssh",
      key: "k",
      createdAt: { seconds: 1n },
      state: SessionBindingRequestState.Revoked,
      details: { a: "1", b: "" },
    });
    expectRoundTrip(SessionBindingRequestSchema, sbr, {
      protocol: "ssh",
      key: "k",
      created_at: { seconds: "1" },
      state: "Revoked",
      details: { a: "1", b: "" },
    });
    const accepted = create(SessionBindingRequestSchema, { state: SessionBindingRequestState.Accepted });
    expect(hex(toBinary(SessionBindingRequestSchema, accepted))).toBe("3001");
    // An enum value this version does not know survives as its number.
    const unknown = fromBinary(SessionBindingRequestSchema, Uint8Array.from([0x30, 0x07]));
    expect(unknown.state as number).toBe(7);
    expect(hex(toBinary(SessionBindingRequestSchema, unknown))).toBe("3007");
  });

  it("agrees on User claims and ServiceAccount optional strings", () => {
    const user = create(UserSchema, {
      id: "u",
      email: "e@x",
      claims: { email: { values: [{ kind: { case: "stringValue", value: "e@x" } }] } },
      deviceCredentialIds: ["d1", "d2"],
    });
    expectRoundTrip(UserSchema, user, {
      id: "u",
      email: "e@x",
      claims: { email: { values: [{ stringValue: "e@x" }] } },
      device_credential_ids: ["d1", "d2"],
    });
    const sa = create(ServiceAccountSchema, { id: "sa", namespaceId: "", description: "d", expiresAt: { seconds: 2n } });
    expectRoundTrip(ServiceAccountSchema, sa, { id: "sa", namespace_id: "", description: "d", expires_at: { seconds: "2" } }, { sameBytes: true });
  });

  it("agrees on checkpoints at the uint64 maximum", () => {
    const cp = create(CheckpointSchema, { serverVersion: U64_MAX, recordVersion: ABOVE_2_53 });
    expectRoundTrip(CheckpointSchema, cp, { server_version: "18446744073709551615", record_version: "9007199254740993" }, { sameBytes: true });
  });
});
