/**
 * The cache keeps at most `decodedMessageLimit` decoded messages besides those its callers hold,
 * on every read path, the typed reads' front included; a message a caller still holds comes back
 * as the very same object; every read answers what the record's bytes say. Counted with WeakRefs
 * in a child process (--expose-gc), so a collection can be forced.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const fixture = fileURLToPath(new URL("./fixtures/held-decoded-messages.ts", import.meta.url));

type PathResult = { alive: number; lastAlive: number; sameHeld: number; wrong: number };
type Result = { limit: number; others: number; held: number; bounded: Record<"typed" | "untyped", PathResult>; unbounded: Record<"typed" | "untyped", PathResult> };

describe("decoded messages the cache keeps", () => {
  it("are bounded by decodedMessageLimit on typed and untyped reads; held messages stay the same object; reads stay exact", { timeout: 90_000 }, async () => {
    const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", fixture], { timeout: 85_000 });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as Result;
    for (const path of ["typed", "untyped"] as const) {
      const bounded = result.bounded[path];
      // The limit's worth of the most recently decoded messages, and nothing more, outlives the collection.
      expect(bounded.alive, `${path}: messages alive after reading ${result.others} with a limit of ${result.limit}`).toBeLessThanOrEqual(result.limit);
      expect(bounded.lastAlive, `${path}: the last ${result.limit} decoded are kept`).toBe(result.limit);
      expect(bounded.sameHeld, `${path}: held messages read again as the same object`).toBe(result.held);
      expect(bounded.wrong, `${path}: reads that did not match the record's bytes`).toBe(0);
      // The control: with the default limit (above the count) every message read is kept, so the
      // counting above sees kept messages when there are any.
      const unbounded = result.unbounded[path];
      expect(unbounded.alive, `${path}: with the default limit every message is kept`).toBe(result.others);
      expect(unbounded.sameHeld).toBe(result.held);
      expect(unbounded.wrong).toBe(0);
    }
  });
});
