/** Scenario 8: malformed record data through the real server: skipped, counted, logged without contents. */
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario-runner.js";

describe("malformed record data", () => {
  it("is skipped, counted and logged without its contents while sync goes on", { timeout: 40_000 }, async () => {
    const result = await runScenario("malformed-record");
    expect(result.code, result.report).toBe(0);
  });
});
