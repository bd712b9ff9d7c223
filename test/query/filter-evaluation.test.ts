import { describe, expect, it } from "vitest";
import { compareTypedRecords, evaluateFilter, type FilterSource, type TypedRecord } from "../../src/query/filter-evaluation.js";
import { parseFilter } from "../../src/query/filter-expression.js";
import { UnsupportedFilterError } from "../../src/query/unsupported-filter-error.js";

interface Row extends TypedRecord {
  readonly email: string;
}

/** A tiny table: every field of Row indexed, no CIDRs. */
function source(rows: Row[]): FilterSource<Row> {
  const sorted = [...rows].sort(compareTypedRecords);
  const ofType = (type: string) => sorted.filter((r) => type === "" || r.type === type);
  return {
    listRecords: ofType,
    recordsWithId: (type, id) => [...new Set(ofType(type).map((r) => r.type))].map((t) => ({ items: sorted.filter((r) => r.type === t && r.id === id) })),
    recordsForCidr: () => [],
    recordsForIndexedField: (type, field, value) => sorted.filter((r) => r.type === type && field === "email" && r.email === value),
  };
}

const rows: Row[] = [
  { type: "u", id: "2", email: "b@x" },
  { type: "u", id: "1", email: "a@x" },
  { type: "s", id: "1", email: "a@x" },
];
const ids = (type: string, filter: unknown) => {
  const res = evaluateFilter(source(rows), type, parseFilter(filter as never));
  if (res.error) throw res.error;
  return res.items.map((r) => `${r.type}/${r.id}`);
};

describe("evaluateFilter", () => {
  it("lists everything in (type, id) order without a filter", () => {
    expect(ids("", undefined)).toEqual(["s/1", "u/1", "u/2"]);
  });
  it("finds by id in one type or across all types", () => {
    expect(ids("u", { id: "1" })).toEqual(["u/1"]);
    expect(ids("", { id: "1" })).toEqual(["s/1", "u/1"]);
  });
  it("compares numbers, bools and null through their Go strings", () => {
    expect(ids("u", { id: 1 })).toEqual(["u/1"]);
    expect(ids("u", { id: [2, true, null] })).toEqual(["u/2"]);
  });
  it("combines with AND / OR and accepts equality operator keys", () => {
    expect(ids("u", { $or: [{ id: "2" }, { email: "a@x" }] })).toEqual(["u/1", "u/2"]);
    expect(ids("u", { id: "1", email: "a@x" })).toEqual(["u/1"]);
    expect(ids("u", { id: { $eq: "2" } })).toEqual(["u/2"]);
  });
  it("fails $not and other operators with UnsupportedFilterError", () => {
    expect(() => ids("u", { $not: { id: "1" } })).toThrow(UnsupportedFilterError);
    expect(() => ids("u", { id: { "<=": "1" } })).toThrow(/operator not supported: <=$/);
    expect(() => ids("u", { id: { $isEmpty: true } })).toThrow(/operator not supported: isEmpty$/);
  });
});
