/**
 * The key copies a record front keeps (key-copies.ts), against a model written from what the set
 * promises: the copies of the last `capacity` distinct ids that needed one, oldest let go first;
 * a kept id is answered from its copy and needs no new one. Small capacities and a larger pool of
 * ids make long probe runs, wrap-arounds and removals from the middle of a run (a removal that
 * left a hole would hide the ids after it: `has` and the size would disagree with the model).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyCopies } from "../../src/replica/key-copies.js";

const POOL = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `session-${i}` : `user${i}@example.com`));

/** The model: ids in the order their copies were made, oldest first, at most `capacity`. */
function modelCopy(model: string[], capacity: number, id: string): void {
  if (model.includes(id)) return;
  model.push(id);
  if (model.length > capacity) model.shift();
}

function expectSame(copies: KeyCopies, model: string[], when: string): void {
  expect(copies.size, `size ${when}`).toBe(model.length);
  for (const id of POOL) expect(copies.has(id), `has(${id}) ${when}`).toBe(model.includes(id));
}

describe("KeyCopies", () => {
  it("keeps the copies of the last `capacity` distinct ids, over random reads, and carries the newest into a new set", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.nat(POOL.length - 1), { minLength: 1, maxLength: 300 }),
        fc.array(fc.nat(POOL.length - 1), { maxLength: 100 }),
        (capacity, carriedCapacity, reads, readsAfter) => {
          let copies = new KeyCopies(capacity);
          let model: string[] = [];
          for (const n of reads) {
            // A separate string object equal to the id, as a front has them.
            const id = [...(POOL[n] as string)].join("");
            expect(copies.copyOf(id)).toBe(id);
            modelCopy(model, capacity, id);
            expectSame(copies, model, `after copyOf(${id})`);
          }
          copies = new KeyCopies(carriedCapacity, copies);
          model = model.slice(-carriedCapacity);
          expectSame(copies, model, "after carrying");
          for (const n of readsAfter) {
            const id = POOL[n] as string;
            expect(copies.copyOf(id)).toBe(id);
            modelCopy(model, carriedCapacity, id);
            expectSame(copies, model, `after copyOf(${id}) in the carried set`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("answers a kept id without making a copy, and makes one for an id it let go", () => {
    const copies = new KeyCopies(2);
    copies.copyOf("a-1");
    copies.copyOf("b-2");
    copies.copyOf("a-1");
    expect([copies.has("a-1"), copies.has("b-2"), copies.size]).toEqual([true, true, 2]);
    copies.copyOf("c-3"); // full: the oldest copy ("a-1") goes, though it was read since
    expect([copies.has("a-1"), copies.has("b-2"), copies.has("c-3")]).toEqual([false, true, true]);
  });
});
