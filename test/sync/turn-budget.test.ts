import { describe, expect, it } from "vitest";
import { elapsedInTurn } from "../../src/sync/turn-budget.js";

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

/** Resolves in the timers phase of a later iteration of the event loop. */
const nextLoopIteration = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe("the shared turn budget", () => {
  it("counts from the first ask of a turn, never decreases within it, and restarts in a later iteration of the loop", async () => {
    await nextLoopIteration();
    expect(elapsedInTurn(), "the first ask of a turn").toBe(0);
    busy(3);
    const a = elapsedInTurn();
    expect(a).toBeGreaterThanOrEqual(3);
    // Work resumed by promises (or by other readers) in the same turn counts against it.
    await Promise.resolve();
    busy(1);
    const b = elapsedInTurn();
    expect(b).toBeGreaterThanOrEqual(a + 1);
    await nextLoopIteration();
    expect(elapsedInTurn(), "the first ask of the next turn").toBe(0);
  });
});
