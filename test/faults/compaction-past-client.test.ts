/** Scenario 3: compaction past the client's position -> ABORTED -> resync. */
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario-runner.js";

describe("compaction past the cache's position", () => {
  it("heals through a resync, applying a delete whose tombstone was compacted away", { timeout: 40_000 }, async () => {
    const result = await runScenario("compaction-past-client");
    expect(result.code, result.report).toBe(0);
  });
});
