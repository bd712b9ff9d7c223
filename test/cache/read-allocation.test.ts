/**
 * Architecture invariant 7: reads allocate nothing on the hot path. Measured in a child process
 * (--expose-gc) as garbage collections during two million getSession + getUser calls.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const fixture = fileURLToPath(new URL("./fixtures/read-allocation.ts", import.meta.url));

describe("hot reads", () => {
  it("get and getUser run two million times without a garbage collection; getSession allocates only its clock reading", { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", fixture], { timeout: 55_000 });
    type Loop = { hits: number; collections: number };
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as { get: Loop; getUser: Loop; getSession: Loop };
    for (const loop of [result.get, result.getUser, result.getSession]) expect(loop.hits).toBe(2_000_000);
    expect(result.get.collections).toBe(0);
    expect(result.getUser.collections).toBe(0);
    // The validity check reads the clock, and V8 boxes that double (16 bytes): 2M calls fill the
    // young generation a few times. Anything more (a per-read object) would show many more.
    expect(result.getSession.collections).toBeLessThanOrEqual(4);
  });
});
