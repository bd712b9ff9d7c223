import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { OAuthTokenSchema } from "../../gen/session/session_pb.js";
import { ServiceAccountSchema } from "../../gen/user/user_pb.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { warmUpDecodesDone } from "../../src/replica/read-warm-up.js";
import { Replica } from "../../src/replica/replica.js";
import { rawRecordFromRecord } from "../../src/replica/raw-record.js";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { change, raw, sessionRecord, snapshot, userRecord } from "./replica-fixtures.js";

const decodeCalls = vi.hoisted(() => ({ count: 0 }));
vi.mock("../../src/records/decode-record-data.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../src/records/decode-record-data.js")>();
  return {
    ...original,
    decodeRecordData: (typeUrl: string, bytes: Uint8Array) => {
      decodeCalls.count++;
      return original.decodeRecordData(typeUrl, bytes);
    },
  };
});

const T = Date.UTC(2026, 0, 1);

// A table's first snapshot also decodes, and drops, a bounded number of its records to warm the
// read path (read-warm-up.ts); those are counted apart, and checked in read-warm-up.test.ts.
const warmed = () => [SESSION_TYPE, USER_TYPE, SERVICE_ACCOUNT_TYPE].reduce((n, t) => n + warmUpDecodesDone(t), 0);
let warmedBefore = 0;
/** Decodes by reads (and queries) since the test began. */
const readDecodes = () => decodeCalls.count - (warmed() - warmedBefore);

beforeEach(() => {
  decodeCalls.count = 0;
  warmedBefore = warmed();
});

describe("lazy decode", () => {
  it("does not decode on ingest, decodes once on first read, then serves the same object", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1"), sessionRecord("s2", 2n, "u1")], 2n));
    r.apply(change([sessionRecord("s3", 3n, "u2")]));
    expect(readDecodes()).toBe(0); // indexing used the wire scan
    const first = r.getSession("s1");
    expect(first?.userId).toBe("u1");
    expect(readDecodes()).toBe(1);
    for (let i = 0; i < 5; i++) expect(r.getSession("s1")).toBe(first);
    expect(r.get(SESSION_TYPE, "s1")?.message).toBe(first);
    expect(readDecodes()).toBe(1);
  });

  it("decodes an updated record afresh", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1")], 1n));
    expect(r.getSession("s1")?.userId).toBe("u1");
    r.apply(change([sessionRecord("s1", 2n, "u2")]));
    expect(r.getSession("s1")?.userId).toBe("u2");
    expect(readDecodes()).toBe(2);
  });

  it("remembers a failed decode instead of retrying it", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [{ ...sessionRecord("bad", 1n, "u"), data: new Uint8Array([0x1a, 0x02, 0xff, 0xfe]) /* parses at the top level, fails to decode (bad UTF-8) */ }], 1n));
    expect(r.getSession("bad")).toBeUndefined();
    expect(r.getSession("bad")).toBeUndefined();
    expect(readDecodes()).toBe(1);
  });
});

describe("typed reads", () => {
  it("getSession hides expired sessions unless includeInvalid, by the injected clock", () => {
    let now = T;
    const r = new Replica({ clock: { now: () => now } });
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1", { expiresAt: timestampFromMs(T + 1000) })], 1n));
    expect(r.getSession("s1")?.id).toBe("s1");
    now = T + 1000;
    expect(r.getSession("s1")?.id).toBe("s1");
    now = T + 1001;
    expect(r.getSession("s1")).toBeUndefined();
    expect(r.getSession("s1", { includeInvalid: true })?.id).toBe("s1");
    expect(r.get(SESSION_TYPE, "s1")?.id).toBe("s1"); // the raw read ignores validity
  });

  it("getSession applies the access-token rule", () => {
    const r = new Replica({ clock: { now: () => T } });
    const token = create(OAuthTokenSchema, { expiresAt: timestampFromMs(T - 1) });
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1", { oauthToken: token }), sessionRecord("s2", 2n, "u1", { oauthToken: { ...token, refreshToken: "r" } })], 2n));
    expect(r.getSession("s1")).toBeUndefined();
    expect(r.getSession("s2")?.id).toBe("s2");
  });

  it("getServiceAccount applies its expiry rule", () => {
    let now = T;
    const r = new Replica({ clock: { now: () => now } });
    r.apply(snapshot(SERVICE_ACCOUNT_TYPE, [raw(ServiceAccountSchema, SERVICE_ACCOUNT_TYPE, "sa", 1n, { id: "sa", userId: "u", expiresAt: timestampFromMs(T) })], 1n));
    expect(r.getServiceAccount("sa")?.userId).toBe("u");
    now = T + 1;
    expect(r.getServiceAccount("sa")).toBeUndefined();
    expect(r.getServiceAccount("sa", { includeInvalid: true })?.userId).toBe("u");
  });

  it("typed reads return undefined when the data is of another type", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [{ ...userRecord("x", 1n, "a@b"), type: SESSION_TYPE }], 1n));
    expect(r.get(SESSION_TYPE, "x")?.typeUrl).toBe(USER_TYPE);
    expect(r.getSession("x")).toBeUndefined();
    expect(r.getUser("x")).toBeUndefined();
  });

  it("reads before any snapshot return nothing rather than failing", () => {
    const r = new Replica();
    expect(r.get(SESSION_TYPE, "s1")).toBeUndefined();
    expect(r.getSession("s1")).toBeUndefined();
    expect(r.byIndex(SESSION_TYPE, "user_id", "u").size).toBe(0);
    expect(r.size(SESSION_TYPE)).toBe(0);
    expect(r.versions()).toBeUndefined();
    expect([...r.values(SESSION_TYPE)]).toEqual([]);
  });

  it("lists types and sizes", () => {
    const r = new Replica();
    r.apply(snapshot("", [sessionRecord("s1", 1n, "u"), userRecord("u", 2n, "a@b")], 2n));
    expect(r.types().sort()).toEqual([SESSION_TYPE, USER_TYPE].sort());
    expect(r.size(SESSION_TYPE)).toBe(1);
    expect(r.versions()?.recordVersion).toBe(2n);
  });
});

describe("rawRecordFromRecord", () => {
  it("copies the data bytes out of the source buffer", () => {
    const wire = toBinary(RecordSchema, create(RecordSchema, { type: USER_TYPE, id: "u", version: 3n, data: { typeUrl: USER_TYPE, value: new Uint8Array([1, 2, 3]) } }));
    const decoded = create(RecordSchema, { type: USER_TYPE, id: "u", version: 3n, data: { typeUrl: USER_TYPE, value: wire.subarray(0, 3) } });
    const rr = rawRecordFromRecord(decoded);
    expect(rr.data.buffer).not.toBe(wire.buffer);
    expect([...rr.data]).toEqual([...wire.subarray(0, 3)]);
    expect(rr).toMatchObject({ type: USER_TYPE, id: "u", version: 3n, typeUrl: USER_TYPE });
  });
});

describe("full scans", () => {
  it("a free-text query decodes records without keeping them decoded", () => {
    const r = new Replica();
    r.apply(snapshot(USER_TYPE, [userRecord("u1", 1n, "ada@example.com"), userRecord("u2", 2n, "bob@example.com")], 2n));
    expect(r.query(USER_TYPE, { query: "ADA", limit: 10 }).records.map((x) => x.id)).toEqual(["u1"]);
    expect(readDecodes()).toBe(2);
    r.getUser("u1");
    expect(readDecodes()).toBe(3);
    r.query(USER_TYPE, { query: "ada", limit: 10 });
    expect(readDecodes()).toBe(4); // u1 is memoised now; only u2 is decoded again
  });
});
