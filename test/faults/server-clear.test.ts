/** Scenario 2: server Clear (CANCELLED) -> resync; the cache goes on where Pomerium's syncer stops. */
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario-runner.js";

describe("server Clear", () => {
  it("resyncs after the Clear cancels its streams, keeps syncing, and no reader sees a session vanish", { timeout: 40_000 }, async () => {
    const result = await runScenario("server-clear");
    expect(result.code, result.report).toBe(0);
  });
});
