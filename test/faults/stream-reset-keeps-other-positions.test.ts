/**
 * A proxy resets one type's Sync stream: the other types keep their positions (no SyncLatest),
 * and the reset type resumes with Sync. On each transport.
 */
import { describe, expect, it } from "vitest";
import { TRANSPORTS } from "../sync/cache-sync-fixtures.js";
import { runScenario } from "./scenario-runner.js";

describe.each(TRANSPORTS)("one stream reset by a proxy, over %s", (transport) => {
  it("costs the other types nothing: no SyncLatest, no resync; the reset type resumes with Sync", { timeout: 40_000 }, async () => {
    const result = await runScenario("stream-reset-keeps-other-positions", 30_000, { CACHE_TRANSPORT: transport });
    expect(result.code, result.report).toBe(0);
  });
});
