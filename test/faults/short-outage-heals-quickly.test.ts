/**
 * Pomerium's databroker (memory and file storage) crashes and is back on the same port after 2, 5
 * or 15 s: with the default retry policy the cache must be fresh within HEAL_BOUND_MS (8 s) of the
 * restart. Each case prints one "measure outage ..." line. Needs the Pomerium peer.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { requirePomeriumOrExplain } from "../interop/interop-availability.js";
import { runScenario } from "./scenario-runner.js";
import { healWaitMs } from "./scenarios/short-outage-heals-quickly.js";

const CASES = (["memory", "file"] as const).flatMap((storage) => [2000, 5000, 15_000].map((outageMs) => ({ storage, outageMs })));

beforeAll(async () => {
  await requirePomeriumOrExplain();
}, 10 * 60_000);

describe("a short crash of Pomerium's databroker", () => {
  it.each(CASES)("$storage storage, $outageMs ms down: the cache is fresh within 8 s of the restart", async ({ storage, outageMs }) => {
    // Budget: start, sync, the outage, up to the wait after the restart, shutdown.
    const result = await runScenario("short-outage-heals-quickly", outageMs + healWaitMs() + 25_000, { STORAGE: storage, OUTAGE_MS: String(outageMs) });
    expect(result.code, result.report).toBe(0);
  }, 15_000 + 25_000 + healWaitMs() + 5000);
});
