/** Scenario 9: a subscriber that never consumes: sync and reads go on, its buffer stays bounded. */
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario-runner.js";

describe("a change subscriber that never consumes", () => {
  it("stalls neither sync nor reads and holds at most its buffer plus one overflow marker", { timeout: 40_000 }, async () => {
    const result = await runScenario("stalled-subscriber");
    expect(result.code, result.report).toBe(0);
  });
});
