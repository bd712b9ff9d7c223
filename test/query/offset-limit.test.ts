import { describe, expect, it } from "vitest";
import { applyOffsetAndLimit } from "../../src/query/offset-limit.js";

describe("applyOffsetAndLimit", () => {
  const all = ["a", "b", "c", "d"];
  it("pages and reports the total before paging", () => {
    expect(applyOffsetAndLimit(all, 1n, 2n)).toEqual({ records: ["b", "c"], totalCount: 4n });
  });
  it("returns nothing for limit 0 (there is no 'no limit')", () => {
    expect(applyOffsetAndLimit(all, 0n, 0n)).toEqual({ records: [], totalCount: 4n });
  });
  it("returns nothing for an offset at or past the end", () => {
    expect(applyOffsetAndLimit(all, 4n, 10n).records).toEqual([]);
    expect(applyOffsetAndLimit(all, 2n ** 62n, 10n).records).toEqual([]);
  });
  it("clips a limit beyond the end", () => {
    expect(applyOffsetAndLimit(all, 3n, 2n ** 62n).records).toEqual(["d"]);
  });
  it("refuses negative values", () => {
    expect(() => applyOffsetAndLimit(all, -1n, 1n)).toThrow(RangeError);
    expect(() => applyOffsetAndLimit(all, 0n, -1n)).toThrow(RangeError);
  });
});
