import { create, fromJson } from "@bufbuild/protobuf";
import { AnySchema, anyPack, StructSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { CidrIndex, recordIndexCidr } from "../../src/query/cidr-index.js";
import { parseIpPrefix } from "../../src/query/ip-prefix.js";

const structData = (json: Record<string, unknown>) => anyPack(StructSchema, fromJson(StructSchema, json as never));

describe("recordIndexCidr", () => {
  it("reads $index.cidr from Struct data", () => {
    expect(recordIndexCidr(structData({ $index: { cidr: "10.0.0.0/8" } }))).toEqual(parseIpPrefix("10.0.0.0/8"));
  });
  it("reads it from a Value holding a struct, and through a nested Any", () => {
    const value = fromJson(ValueSchema, { $index: { cidr: "192.168.0.0/16" } });
    expect(recordIndexCidr(anyPack(ValueSchema, value))?.bits).toBe(16);
    const inner = structData({ $index: { cidr: "192.168.1.0/24" } });
    expect(recordIndexCidr(anyPack(AnySchema, inner))?.bits).toBe(24);
  });
  it("ignores missing, empty, non-string or unparsable cidrs and non-Struct data", () => {
    expect(recordIndexCidr(structData({}))).toBeUndefined();
    expect(recordIndexCidr(structData({ $index: { cidr: "" } }))).toBeUndefined();
    expect(recordIndexCidr(structData({ $index: { cidr: 5 } }))).toBeUndefined();
    expect(recordIndexCidr(structData({ $index: { cidr: "10.0.0.1" } }))).toBeUndefined();
    expect(recordIndexCidr(anyPack(SessionSchema, create(SessionSchema, { id: "10.0.0.0/8" })))).toBeUndefined();
    expect(recordIndexCidr(undefined)).toBeUndefined();
  });
});

describe("CidrIndex", () => {
  const p = (s: string) => parseIpPrefix(s)!;
  it("returns only the most specific containing prefix, for addresses and prefixes", () => {
    const idx = new CidrIndex();
    idx.add(p("10.0.0.0/8"), { type: "t", id: "wide" });
    idx.add(p("10.1.0.0/16"), { type: "t", id: "narrow" });
    expect(idx.lookup("t", "10.1.2.3")).toEqual([{ type: "t", id: "narrow" }]);
    expect(idx.lookup("t", "10.2.0.0")).toEqual([{ type: "t", id: "wide" }]);
    expect(idx.lookup("t", "10.1.0.0/24")).toEqual([{ type: "t", id: "narrow" }]);
    expect(idx.lookup("t", "10.0.0.0/8")).toEqual([{ type: "t", id: "wide" }]);
    expect(idx.lookup("t", "10.0.0.0/7")).toEqual([]);
    expect(idx.lookup("t", "11.0.0.1")).toEqual([]);
    expect(idx.lookup("t", "garbage")).toEqual([]);
  });
  it("picks the most specific prefix across types before filtering by type", () => {
    const idx = new CidrIndex();
    idx.add(p("10.0.0.0/8"), { type: "a", id: "1" });
    idx.add(p("10.1.0.0/16"), { type: "b", id: "2" });
    expect(idx.lookup("a", "10.1.1.1")).toEqual([]);
    expect(idx.lookup("", "10.1.1.1")).toEqual([{ type: "b", id: "2" }]);
  });
  it("masks host bits and keeps insertion order, moving re-added entries last", () => {
    const idx = new CidrIndex();
    idx.add(p("10.9.9.9/8"), { type: "t", id: "x" });
    idx.add(p("10.0.0.0/8"), { type: "t", id: "y" });
    idx.add(p("10.0.0.0/8"), { type: "t", id: "x" });
    expect(idx.lookup("t", "10.0.0.1").map((e) => e.id)).toEqual(["y", "x"]);
    idx.delete(p("10.0.0.0/8"), { type: "t", id: "y" });
    expect(idx.lookup("t", "10.0.0.1").map((e) => e.id)).toEqual(["x"]);
  });
});

