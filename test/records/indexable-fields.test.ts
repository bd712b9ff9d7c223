import { create, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { StructSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { IDTokenSchema, SessionBindingSchema, SessionSchema } from "../../gen/session/session_pb.js";
import { ServiceAccountSchema } from "../../gen/user/user_pb.js";
import { extractIndexableFields, parseIndexableField } from "../../src/records/indexable-fields.js";

function extract(schema: DescMessage, message: Message, fields: string[]): string[] | undefined {
  return extractIndexableFields(schema, toBinary(schema, message), fields.map(parseIndexableField));
}

/**
 * A straightforward transcription of Pomerium's GetIndexableFields over a fully decoded message
 * (MsgToMap of populated fields, then the path walk), to cross-check the wire scan.
 */
function reference(schema: DescMessage, message: Message, fields: string[]): string[] | undefined {
  const root = toMap(reflect(schema, message));
  const out: string[] = [];
  for (const field of fields) {
    let cur: Record<string, unknown> = root;
    let value = "";
    const parts = field.split(".");
    for (let i = 0; i < parts.length; i++) {
      if (!Object.hasOwn(cur, parts[i] as string)) break;
      const v = cur[parts[i] as string];
      if (i === parts.length - 1) {
        if (typeof v !== "string") return undefined;
        value = v;
      } else if (typeof v === "object" && v !== null && !Array.isArray(v)) cur = v as Record<string, unknown>;
      else break;
    }
    out.push(value);
  }
  return out;
}

function toMap(m: ReflectMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of m.fields) {
    if (!m.isSet(f)) continue;
    out[f.name] = fieldValue(m.get(f) as unknown);
  }
  return out;
}

function fieldValue(v: unknown): unknown {
  if (typeof v !== "object" || v === null || v instanceof Uint8Array) return v;
  if ("desc" in v && "fields" in v) return toMap(v as ReflectMessage);
  if (v instanceof Map || (typeof (v as { entries?: unknown }).entries === "function" && "has" in v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of (v as Map<unknown, unknown>).entries()) out[String(k)] = fieldValue(x);
    return out;
  }
  if (Symbol.iterator in v) return [...(v as Iterable<unknown>)].map(fieldValue);
  return v;
}

const session = create(SessionSchema, {
  id: "s1",
  userId: "u1",
  idpId: "",
  refreshDisabled: false,
  audience: ["a"],
  expiresAt: timestampFromMs(1_800_000_000_000),
  idToken: create(IDTokenSchema, { issuer: "https://idp", raw: "tok" }),
  impersonateSessionId: "",
});
const binding = create(SessionBindingSchema, { sessionId: "s1", userId: "u1", details: { k: "v", empty: "" } });

describe("extractIndexableFields (Pomerium file/memory index keys)", () => {
  it("indexes populated string fields by value", () => {
    expect(extract(SessionSchema, session, ["user_id", "id"])).toEqual(["u1", "s1"]);
  });

  it("walks nested messages and string maps", () => {
    expect(extract(SessionSchema, session, ["id_token.issuer"])).toEqual(["https://idp"]);
    expect(extract(SessionBindingSchema, binding, ["details.k", "details.empty", "details.missing"])).toEqual(["v", "", ""]);
  });

  it('indexes missing, unknown and zero-valued fields under ""', () => {
    expect(extract(SessionSchema, session, ["idp_id", "no_such_field", "refresh_disabled", "oauth_token.access_token"])).toEqual([
      "",
      "",
      "",
      "",
    ]);
  });

  it('indexes a path through a list or a string under ""', () => {
    expect(extract(SessionSchema, session, ["audience.x", "user_id.x"])).toEqual(["", ""]);
  });

  it("does not index the record at all when any field is a populated non-string", () => {
    expect(extract(SessionSchema, session, ["user_id", "audience"])).toBeUndefined();
    expect(extract(SessionSchema, session, ["expires_at"])).toBeUndefined();
    expect(extract(SessionSchema, create(SessionSchema, { refreshDisabled: true }), ["user_id", "refresh_disabled"])).toBeUndefined();
    expect(extract(SessionBindingSchema, binding, ["details"])).toBeUndefined();
  });

  it("treats a set optional string as populated, even when empty", () => {
    expect(extract(ServiceAccountSchema, create(ServiceAccountSchema, { namespaceId: "" }), ["namespace_id"])).toEqual([""]);
    expect(extract(SessionSchema, session, ["impersonate_session_id"])).toEqual([""]);
  });

  it("reaches into Struct data the way Go's reflection map does (fields.<key>.string_value)", () => {
    const s = create(StructSchema, {
      fields: {
        email: { kind: { case: "stringValue", value: "a@b" } },
        n: { kind: { case: "numberValue", value: 5 } },
      },
    });
    expect(extract(StructSchema, s, ["fields.email.string_value"])).toEqual(["a@b"]);
    expect(extract(StructSchema, s, ["fields.n.string_value"])).toEqual([""]);
    expect(extract(StructSchema, s, ["fields.n.number_value"])).toBeUndefined();
  });

  it("gives undefined for malformed bytes", () => {
    expect(extractIndexableFields(SessionSchema, new Uint8Array([0x1a, 0x09, 0x00]), [parseIndexableField("user_id")])).toBeUndefined();
  });

  it("agrees with a full-decode transcription of Pomerium's algorithm", () => {
    const cases: [DescMessage, Message][] = [
      [SessionSchema, session],
      [SessionBindingSchema, binding],
      [SessionSchema, create(SessionSchema, {})],
      [ServiceAccountSchema, create(ServiceAccountSchema, { id: "sa", userId: "u", description: "d" })],
    ];
    const paths = [
      ["id"],
      ["user_id"],
      ["id", "user_id"],
      ["id_token.issuer", "id_token.raw"],
      ["id_token"],
      ["details.k"],
      ["details.nope", "user_id"],
      ["audience"],
      ["audience.0"],
      ["description", "namespace_id"],
      ["expires_at.seconds"],
      ["claims.x"],
      ["session_id.deeper"],
    ];
    for (const [schema, message] of cases) {
      for (const p of paths) expect(extract(schema, message, p), `${schema.typeName} ${p.join(",")}`).toEqual(reference(schema, message, p));
    }
  });
});

describe("parity with the server's index values (src/query)", () => {
  it("the wire scan gives the same keys as the server's full-decode implementation", async () => {
    const { indexableFieldValues } = await import("../../src/query/indexable-fields.js");
    const { anyPack } = await import("@bufbuild/protobuf/wkt");
    const cases: [DescMessage, Message][] = [
      [SessionSchema, session],
      [SessionBindingSchema, binding],
      [SessionSchema, create(SessionSchema, { refreshDisabled: true, userId: "u" })],
      [ServiceAccountSchema, create(ServiceAccountSchema, { id: "sa", namespaceId: "" })],
    ];
    const paths = [["id", "user_id"], ["id_token.issuer"], ["id_token"], ["details.k", "details.none"], ["audience"], ["audience.x"], ["refresh_disabled"], ["namespace_id"], ["claims.k"]];
    for (const [schema, message] of cases) {
      for (const p of paths) {
        const server = indexableFieldValues(anyPack(schema, message), p);
        const ours = extract(schema, message, p);
        expect(ours, `${schema.typeName} ${p.join(",")}`).toEqual(server === undefined ? undefined : p.map((f) => server.get(f)));
      }
    }
  });
});
