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
    for (const loop of Object.values(result)) expect(loop.hits).toBe(4_000_000);
    expect(result.get.collections).toBe(0);
    expect(result.getUser.collections).toBe(0);
    // The validity check reads the coarse clock (records/clock.ts): one boxed Date.now() per
    // 4,096 reads, ~16 KB over the whole loop, well under one young generation.
    expect(result.getSession.collections).toBe(0);
    expect(result.getSessionIncludeInvalid.collections).toBe(0);
  });
});
