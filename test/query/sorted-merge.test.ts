import { describe, expect, it } from "vitest";
import { sortedIntersection, sortedUnion, type Sequence } from "../../src/query/sorted-merge.js";

const cmp = (a: number, b: number) => a - b;
const seq = (items: number[], error?: Error): Sequence<number> => ({ items, error });
const boom = new Error("boom");

describe("sortedUnion (Pomerium's SortedUnionWithError)", () => {
  it("merges sorted inputs without duplicates", () => {
    expect(sortedUnion(cmp, [seq([1, 3, 5]), seq([2, 3, 6])])).toEqual({ items: [1, 2, 3, 5, 6] });
    expect(sortedUnion(cmp, [seq([1]), seq([2]), seq([1, 3]), seq([])])).toEqual({ items: [1, 2, 3] });
  });
  it("stops at the first error it meets, keeping what came before", () => {
    expect(sortedUnion(cmp, [seq([1, 4]), seq([2], boom)])).toEqual({ items: [1, 2], error: boom });
  });
  it("on unsorted input interleaves as the Go code does", () => {
    expect(sortedUnion(cmp, [seq([5, 1]), seq([3])])).toEqual({ items: [3, 5, 1] });
  });
});

describe("sortedIntersection (Pomerium's SortedIntersectionWithError)", () => {
  it("keeps common items of sorted inputs", () => {
    expect(sortedIntersection(cmp, [seq([1, 2, 3, 5]), seq([2, 5, 7])])).toEqual({ items: [2, 5] });
    expect(sortedIntersection(cmp, [seq([1, 2, 3]), seq([2, 3]), seq([3])])).toEqual({ items: [3] });
  });
  it("reports an error only while both sides still have something", () => {
    expect(sortedIntersection(cmp, [seq([1]), seq([], boom)])).toEqual({ items: [], error: boom });
    expect(sortedIntersection(cmp, [seq([]), seq([], boom)])).toEqual({ items: [] });
  });
  it("passes a single sequence through and gives nothing for none", () => {
    expect(sortedIntersection(cmp, [seq([2, 1])])).toEqual({ items: [2, 1] });
    expect(sortedIntersection(cmp, [])).toEqual({ items: [] });
  });
});
