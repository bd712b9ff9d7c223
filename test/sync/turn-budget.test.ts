import { describe, expect, it } from "vitest";
import { elapsedInTurn, nextTurn } from "../../src/sync/turn-budget.js";

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

  it("resumes work waiting for the next turn in a later iteration of the loop, in the order it asked, the first with the budget restarted", async () => {
    await nextLoopIteration();
    elapsedInTurn();
    busy(2);
    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    const order: string[] = [];
    const seen: number[] = [];
    const wait = (name: string) =>
      nextTurn().then(() => {
        order.push(name);
        seen.push(elapsedInTurn());
        busy(1);
      });
    await Promise.all([wait("first"), wait("second"), wait("third")]);
    // The check phase of the turn they waited in came first: they resumed in a later iteration.
    expect(immediateRan).toBe(true);
    expect(order).toEqual(["first", "second", "third"]);
    expect(seen[0], "the first resumes as the first ask of the new turn").toBe(0);
    // The others resume in the same new turn, after the first's work: they see it spent.
    expect(seen[1]).toBeGreaterThanOrEqual(1);
    expect(seen[2]).toBeGreaterThanOrEqual(2);
  });
});
