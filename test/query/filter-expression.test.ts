import { describe, expect, it } from "vitest";
import { compareUtf8, FilterParseError, parseFilter } from "../../src/query/filter-expression.js";

describe("parseFilter", () => {
  it("returns undefined for an absent filter", () => {
    expect(parseFilter(undefined)).toBeUndefined();
  });

  it("unwraps a single term into a simple equality", () => {
    expect(parseFilter({ id: "a" })).toEqual({ kind: "simple", fields: ["id"], operator: "equals", value: "a" });
  });

  it("ANDs top-level keys in byte-sorted order", () => {
    const expr = parseFilter({ user_id: "u", $index: "10.0.0.1", id: "x" });
    expect(expr).toEqual({
      kind: "and",
      terms: [
        { kind: "simple", fields: ["$index"], operator: "equals", value: "10.0.0.1" },
        { kind: "simple", fields: ["id"], operator: "equals", value: "x" },
        { kind: "simple", fields: ["user_id"], operator: "equals", value: "u" },
      ],
    });
  });

  it("extends the field path through nested objects", () => {
    expect(parseFilter({ a: { b: { c: 1 } } })).toEqual({ kind: "simple", fields: ["a", "b", "c"], operator: "equals", value: 1 });
  });

  it("turns a list value into an OR of equalities", () => {
    expect(parseFilter({ id: ["a", "b"] })).toEqual({
      kind: "or",
      terms: [
        { kind: "simple", fields: ["id"], operator: "equals", value: "a" },
        { kind: "simple", fields: ["id"], operator: "equals", value: "b" },
      ],
    });
  });

  it("parses $or and $and arrays and unwraps single-element ones", () => {
    expect(parseFilter({ $or: [{ id: "a" }, { $index: "b" }] })).toMatchObject({ kind: "or", terms: [{ fields: ["id"] }, { fields: ["$index"] }] });
    expect(parseFilter({ $and: [{ id: "a" }, { x: "b" }] })).toMatchObject({ kind: "and", terms: [{ fields: ["id"] }, { fields: ["x"] }] });
    expect(parseFilter({ $and: [{ id: "a" }] })).toEqual({ kind: "simple", fields: ["id"], operator: "equals", value: "a" });
  });

  it("rejects $and and $or values that are not arrays with Pomerium's messages", () => {
    expect(() => parseFilter({ $and: { id: "a" } })).toThrow(new FilterParseError("$and must be an array"));
    expect(() => parseFilter({ $or: "x" })).toThrow(new FilterParseError("$or must be an array"));
  });

  it("parses $not and every operator key without rejecting them", () => {
    expect(parseFilter({ $not: { id: "a" } })).toMatchObject({ kind: "not", term: { kind: "simple", fields: ["id"] } });
    const ops: Record<string, string> = {
      $eq: "equals", "=": "equals", "==": "equals", $equals: "equals", $is: "equals",
      $after: "after", $before: "before", $contains: "contains", $doesNotContain: "doesNotContain",
      "!=": "doesNotEqual", $doesNotEqual: "doesNotEqual", $endsWith: "endsWith", ">": ">", ">=": ">=",
      "<": "<", "<=": "<=", $isAnyOf: "isAnyOf", $isEmpty: "isEmpty", $isNotEmpty: "isNotEmpty",
      $onOrAfter: "onOrAfter", $onOrBefore: "onOrBefore", $startsWith: "startsWith",
    };
    for (const [key, operator] of Object.entries(ops)) {
      expect(parseFilter({ f: { [key]: "v" } })).toEqual({ kind: "simple", fields: ["f"], operator, value: "v" });
    }
  });

  it("an empty object parses to an empty AND", () => {
    expect(parseFilter({})).toEqual({ kind: "and", terms: [] });
  });
});

describe("compareUtf8", () => {
  it("orders by UTF-8 bytes, putting astral characters after U+FFFD", () => {
    expect(compareUtf8("a", "b")).toBeLessThan(0);
    expect(compareUtf8("ab", "a")).toBeGreaterThan(0);
    expect(compareUtf8("\u{1F600}", "\uFFFD")).toBeGreaterThan(0);
    expect(["\uFFFD", "\u{1F600}", "Z", "a"].sort(compareUtf8)).toEqual(["Z", "a", "\uFFFD", "\u{1F600}"]);
  });
});
