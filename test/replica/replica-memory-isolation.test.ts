/**
 * Nothing a read hands out aliases the replica's memory, and no reader can change what another
 * reader sees: query answers carry copies of the bytes, records and decoded messages are frozen
 * (bytes fields read as fresh copies), index views are not Sets, options are frozen.
 */
import { Buffer } from "node:buffer";
import { create, toBinary } from "@bufbuild/protobuf";
import { BytesValueSchema, ListValueSchema, ValueSchema, type ListValue } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import type { Session } from "../../gen/session/session_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { Replica } from "../../src/replica/replica.js";
import { change, options, raw, sessionRecord, snapshot } from "./replica-fixtures.js";

const groups = (...names: string[]) => create(ListValueSchema, { values: names.map((n) => create(ValueSchema, { kind: { case: "stringValue", value: n } })) });

function replicaWithSessions(): Replica {
  const r = new Replica();
  r.apply(
    snapshot(
      SESSION_TYPE,
      [
        sessionRecord("s1", 1n, "u1", { claims: { groups: groups("admins") } }),
        sessionRecord("s2", 2n, "u1", { claims: { groups: groups("staff") } }),
        sessionRecord("s3", 3n, "u2"),
      ],
      3n,
    ),
  );
  return r;
}

describe("query answers", () => {
  it("carry their own copy of each record's bytes: no view of the shared slab, and writing into it changes nothing held", () => {
    const r = replicaWithSessions();
    const answer = r.query(SESSION_TYPE, { limit: 10 });
    expect(answer.records.map((x) => x.id)).toEqual(["s1", "s2", "s3"]);
    for (const record of answer.records) {
      const value = record.data!.value;
      // A view into the slab would expose the other records' bytes through `.buffer`.
      expect(value.buffer.byteLength).toBe(value.byteLength);
      expect(value.byteOffset).toBe(0);
      // A snapshot's slabs are SharedArrayBuffers (byte-slab.ts); a copy is ordinary memory.
      expect(value.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    }
    for (const record of answer.records) record.data!.value.fill(0xff);
    // s2 was never decoded: a write into the slab would make its bytes malformed.
    expect(r.getSession("s2")?.userId).toBe("u1");
    expect(r.getSession("s3")?.userId).toBe("u2");
    expect(r.query(SESSION_TYPE, { filter: { id: "s1" }, limit: 1 }).records[0]!.data!.value).toEqual(
      toBinary(SessionSchema, create(SessionSchema, { id: "s1", userId: "u1", claims: { groups: groups("admins") } })),
    );
  });
});

describe("records and decoded messages", () => {
  it("a held record's fields cannot be reassigned", () => {
    const r = replicaWithSessions();
    const record = r.get(SESSION_TYPE, "s1")!;
    expect(() => {
      (record as { id: string }).id = "s9";
    }).toThrow(TypeError);
    expect(() => {
      (record as { version: bigint }).version = 99n;
    }).toThrow(TypeError);
    expect(r.get(SESSION_TYPE, "s1")?.id).toBe("s1");
    expect(r.get(SESSION_TYPE, "s1")?.version).toBe(1n);
  });

  it("a record's type and type URL (shared with the records of its kind) cannot be reassigned, nor their accessors replaced", () => {
    const r = replicaWithSessions();
    const record = r.get(SESSION_TYPE, "s1")!;
    const other = r.get(SESSION_TYPE, "s2")!;
    expect(() => {
      (record as { type: string }).type = "intruder";
    }).toThrow(TypeError);
    expect(() => {
      (record as { typeUrl: string }).typeUrl = "intruder";
    }).toThrow(TypeError);
    const proto = Object.getPrototypeOf(record) as object;
    expect(() => Object.defineProperty(proto, "typeUrl", { get: () => "intruder" })).toThrow(TypeError);
    expect(() => Object.defineProperty(proto, "message", { get: () => undefined })).toThrow(TypeError);
    for (const held of [record, other, r.get(SESSION_TYPE, "s1")!]) {
      expect(held.type).toBe(SESSION_TYPE);
      expect(held.typeUrl).toBe(SESSION_TYPE);
    }
    expect(r.getSession("s1")?.id).toBe("s1");
  });

  it("keeps each record's type and type URL past the number of kinds it shares", () => {
    const r = new Replica();
    // More distinct (type, type URL) pairs than the shared kinds: the later records get their own.
    const n = 1_100;
    const records = Array.from({ length: n }, (_, i) => ({ type: `type-${i}`, id: "x", version: BigInt(i + 1), typeUrl: `type.example/url-${i}`, data: new Uint8Array([8, i & 127]) }));
    r.apply(snapshot("", records, BigInt(n)));
    for (const i of [0, 1_023, 1_024, n - 1]) {
      const held = r.get(`type-${i}`, "x")!;
      expect(held.type).toBe(`type-${i}`);
      expect(held.typeUrl).toBe(`type.example/url-${i}`);
    }
  });

  it("getSession and get().message hand out one deep-frozen message: a reader's write throws and no other reader, query or index sees it", () => {
    const r = replicaWithSessions();
    const session = r.getSession("s1")!;
    expect(r.get(SESSION_TYPE, "s1")?.message).toBe(session); // still one object: no copy per read
    expect(() => {
      (session as Session).userId = "mallory";
    }).toThrow(TypeError);
    expect(() => {
      (session.claims as Record<string, ListValue>)["groups"] = groups("mallory");
    }).toThrow(TypeError);
    expect(() => {
      session.claims["groups"]!.values.push(create(ValueSchema, { kind: { case: "stringValue", value: "mallory" } }));
    }).toThrow(TypeError);
    expect(() => {
      (session.claims["groups"]!.values[0]!.kind as { value: unknown }).value = "mallory";
    }).toThrow(TypeError);
    expect(() => {
      (session as { audience: string[] }).audience.push("mallory");
    }).toThrow(TypeError);

    const again = r.getSession("s1")!;
    expect(again.userId).toBe("u1");
    expect(again.claims["groups"]!.values.map((v) => v.kind.value)).toEqual(["admins"]);
    expect(r.query(SESSION_TYPE, { query: "mallory", limit: 10 }).totalCount).toBe(0n);
    expect(r.query(SESSION_TYPE, { query: "admins", limit: 10 }).records.map((x) => x.id)).toEqual(["s1"]);
    expect([...r.byIndex(SESSION_TYPE, "user_id", "u1")].sort()).toEqual(["s1", "s2"]);
  });

  it("bytes fields and unknown fields read as a fresh copy each time, never as a view of the slab", () => {
    const r = new Replica();
    const BYTES_TYPE = "type.googleapis.com/google.protobuf.BytesValue";
    const secret = new TextEncoder().encode("secret bytes of one record");
    // A session carrying a field this SDK's Session does not know (number 999, as a newer server might send).
    const unknownField = new BinaryWriter().tag(999, WireType.LengthDelimited).string("future field").finish();
    const withUnknown = sessionRecord("s1", 2n, "u1");
    r.apply(snapshot("", [raw(BytesValueSchema, BYTES_TYPE, "b1", 1n, { value: secret }), { ...withUnknown, data: new Uint8Array(Buffer.concat([withUnknown.data, unknownField])) }], 2n));

    const value = (r.get(BYTES_TYPE, "b1")!.message as unknown as { value: Uint8Array }).value;
    expect(value).toEqual(secret);
    expect(value.buffer.byteLength).toBe(value.byteLength);
    expect(value.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    value.fill(0);
    expect((r.get(BYTES_TYPE, "b1")!.message as unknown as { value: Uint8Array }).value).toEqual(secret);

    const unknown = r.getSession("s1")!.$unknown![0]!;
    expect(unknown.no).toBe(999);
    expect(unknown.data.buffer.byteLength).toBe(unknown.data.byteLength);
    expect(unknown.data.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    unknown.data.fill(0);
    expect(r.getSession("s1")!.$unknown![0]!.data).toEqual(unknownField.subarray(2)); // after the two-byte tag: the length and the value
    expect(r.getSession("s1")!.userId).toBe("u1");
  });
});

describe("index views", () => {
  it("are not Sets: casting and adding, deleting or replacing a method fails, and every other read is unchanged", () => {
    const r = replicaWithSessions();
    const many = r.byIndex(SESSION_TYPE, "user_id", "u1");
    const one = r.byIndex(SESSION_TYPE, "user_id", "u2");
    const none = r.byIndex(SESSION_TYPE, "user_id", "nobody");
    for (const view of [many, one, none]) {
      expect(view).not.toBeInstanceOf(Set);
      expect((view as Partial<Set<string>>).add).toBeUndefined();
      expect(() => Set.prototype.add.call(view as Set<string>, "intruder")).toThrow(TypeError);
      expect(() => Set.prototype.clear.call(view as Set<string>)).toThrow(TypeError);
      expect(() => {
        (view as { has: unknown }).has = () => true;
      }).toThrow(TypeError);
      expect(() => Object.setPrototypeOf(Object.getPrototypeOf(view), null)).toThrow(TypeError);
    }
    expect([...r.byIndex(SESSION_TYPE, "user_id", "u1")].sort()).toEqual(["s1", "s2"]);
    expect([...r.byIndex(SESSION_TYPE, "user_id", "u2")]).toEqual(["s3"]);
    // The empty answer is shared by every miss: nothing may have been added to it.
    expect(r.byIndex(SESSION_TYPE, "user_id", "someone-else").size).toBe(0);
    expect(r.byIndex("no-such-type", "user_id", "u1").size).toBe(0);
    // Still a live view, kept by the index as it changes.
    r.apply(change([sessionRecord("s4", 4n, "u1")]));
    expect([...many].sort()).toEqual(["s1", "s2", "s4"]);
  });
});

describe("options", () => {
  it("are handed out frozen: a caller cannot change what the field indexes were built from", () => {
    const r = replicaWithSessions();
    r.apply({ kind: "options", type: SESSION_TYPE, options: options(["user_id"]) });
    const held = r.options(SESSION_TYPE)!;
    expect(() => held.indexableFields.push("id")).toThrow(TypeError);
    expect(() => {
      (held as { capacity?: bigint }).capacity = 1n;
    }).toThrow(TypeError);
    expect(r.options(SESSION_TYPE)?.indexableFields).toEqual(["user_id"]);
    expect(r.options(SESSION_TYPE)?.capacity).toBeUndefined();
    expect(r.query(SESSION_TYPE, { filter: { user_id: "u1" }, limit: 10 }).records.map((x) => x.id)).toEqual(["s1", "s2"]);
  });
});
