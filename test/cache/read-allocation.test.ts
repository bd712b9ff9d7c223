/**
 * Architecture invariant 7: reads allocate nothing on the hot path. Measured in a child process
 * (--expose-gc) as garbage collections during four million calls of each read.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const fixture = fileURLToPath(new URL("./fixtures/read-allocation.ts", import.meta.url));

describe("hot reads", () => {
  it("get, getUser and getSession (validity checked) run four million times each without a garbage collection", { timeout: 90_000 }, async () => {
    const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", fixture], { timeout: 85_000 });
    type Loop = { hits: number; collections: number };
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<"get" | "getUser" | "getSession" | "getSessionIncludeInvalid", Loop>;
    for (const [read, loop] of Object.entries(result)) expect(loop.hits, `${read} hits of 4M calls`).toBe(4_000_000);
    // Holds on a 2-core machine with other tests running: a collection is set off by allocation,
    // not by time or load, and these reads allocate nothing. Load can only slow the loops down.
    expect(result.get.collections, "GCs during 4M get calls (expected 0)").toBe(0);
    expect(result.getUser.collections, "GCs during 4M getUser calls (expected 0)").toBe(0);
    // The validity check reads the coarse clock (records/clock.ts): one boxed Date.now() per
    // 4,096 reads, ~16 KB over the whole loop, well under one young generation.
    expect(result.getSession.collections, "GCs during 4M getSession calls (expected 0)").toBe(0);
    expect(result.getSessionIncludeInvalid.collections, "GCs during 4M getSession calls with includeInvalid (expected 0)").toBe(0);
  });
});
