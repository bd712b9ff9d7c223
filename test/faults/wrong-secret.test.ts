/** Scenario 7: a wrong shared secret: a clear message naming it, and a bounded attempt rate. */
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario-runner.js";

describe("wrong shared secret", () => {
  it("says so naming the shared secret (never showing it) and retries at most a few times", { timeout: 40_000 }, async () => {
    const result = await runScenario("wrong-secret");
    expect(result.code, result.report).toBe(0);
  });
});
