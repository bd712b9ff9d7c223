/**
 * SetOptions on a live cache, against Pomerium's databroker on memory storage: a new indexable
 * field reaches the cache's local query within the refresh bound (see
 * test/cache/indexable-field-scenario.ts). Not on Postgres, whose Query matches any field,
 * indexable or not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanups } from "../cache/cache-fixtures.js";
import { newIndexableFieldReachesLocalQuery, OPTIONS_BOUND_MS } from "../cache/indexable-field-scenario.js";
import { startCacheInteropTarget, type CacheInteropTarget } from "./pomerium-cache-target.js";

describe("options changed while a cache is live, on Pomerium's memory storage", () => {
  const cleanups = new Cleanups();
  let target: CacheInteropTarget;

  beforeAll(async () => {
    target = await startCacheInteropTarget("memory", "indexable_field_after_set_options");
    cleanups.add(() => target.close());
  }, 180_000);
  afterAll(() => cleanups.run());

  it("answers a filter on a field made indexable by SetOptions like the server's Query, within the bound", async () => {
    const ms = await newIndexableFieldReachesLocalQuery(target, cleanups);
    console.log(`measure indexable-field-after-set-options server=pomerium-memory ms=${ms} boundMs=${OPTIONS_BOUND_MS}`);
    expect(ms).toBeLessThanOrEqual(OPTIONS_BOUND_MS);
  });
});
