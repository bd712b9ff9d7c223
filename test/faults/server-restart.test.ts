/** Scenario 1: server restart on the same port (new server version) -> resync. */
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario-runner.js";

describe("server restart on the same port", () => {
  it("resyncs to the new server version and no reader sees a session vanish", { timeout: 40_000 }, async () => {
    const result = await runScenario("server-restart");
    expect(result.code, result.report).toBe(0);
  });
});
