/** Scenario 4: the stream ends -> resume Sync without a new SyncLatest. */
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario-runner.js";

describe("stream end", () => {
  it("resumes from its position with change batches only and no new SyncLatest", { timeout: 40_000 }, async () => {
    const result = await runScenario("stream-end-resume");
    expect(result.code, result.report).toBe(0);
  });
});
