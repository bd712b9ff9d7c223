/**
 * A proxy ends idle streams cleanly (grpc-status 0): the cache stays fresh and does not back off
 * as if each end were a failure. About 20 s per transport.
 */
import { describe, expect, it } from "vitest";
import { TRANSPORTS } from "../sync/cache-sync-fixtures.js";
import { runScenario } from "./scenario-runner.js";

describe.each(TRANSPORTS)("streams ended cleanly by a proxy's idle timeout, over %s", (transport) => {
  it("leave the cache fresh (every write visible within 1 s) and the retry delay at its initial value", { timeout: 70_000 }, async () => {
    const result = await runScenario("clean-stream-end-keeps-cache-fresh", 60_000, { CACHE_TRANSPORT: transport });
    expect(result.code, result.report).toBe(0);
  });
});
