import { describe, expect, it } from "vitest";
import { filterValueAsString, formatGoFloat } from "../../src/query/filter-value-string.js";

describe("filterValueAsString", () => {
  it("uses strings as is, bools as true/false, null as empty", () => {
    expect(filterValueAsString("x")).toBe("x");
    expect(filterValueAsString(true)).toBe("true");
    expect(filterValueAsString(false)).toBe("false");
    expect(filterValueAsString(null)).toBe("");
  });
});

describe("formatGoFloat (outputs checked against Go's fmt.Sprint)", () => {
  const cases: Array<[number, string]> = [
    [5, "5"],
    [1.5, "1.5"],
    [1e21, "1e+21"],
    [1e20, "1e+20"],
    [1e6, "1e+06"],
    [123456, "123456"],
    [1234567, "1.234567e+06"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [1e-7, "1e-07"],
    [123456789.5, "1.234567895e+08"],
    [0, "0"],
    [-0, "-0"],
    [-2.5, "-2.5"],
    [0.1, "0.1"],
    [100, "100"],
    [1e100, "1e+100"],
    [Number.NaN, "NaN"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
  ];
  for (const [input, expected] of cases) {
    it(`formats ${String(input)} as ${expected}`, () => {
      expect(formatGoFloat(input)).toBe(expected);
    });
  }
});
