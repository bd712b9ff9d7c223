/** Scenario 5: network faults through the TCP fault proxy: cut, blackhole past the idle timeout, slow link. */
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario-runner.js";

describe("network faults", () => {
  it("converges after repeated connection resets while writes continue", { timeout: 40_000 }, async () => {
    const result = await runScenario("proxy-cut");
    expect(result.code, result.report).toBe(0);
  });
  it("reconnects after a silent partition longer than the idle timeout and converges", { timeout: 40_000 }, async () => {
    const result = await runScenario("proxy-blackhole");
    expect(result.code, result.report).toBe(0);
  });
  it("converges over a slow link (50 ms per chunk) while writes continue", { timeout: 40_000 }, async () => {
    const result = await runScenario("proxy-slow");
    expect(result.code, result.report).toBe(0);
  });
});
