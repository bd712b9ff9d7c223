/**
 * Sliced computations: work proportional to a table's size written as a generator whose every
 * `yield` is a point to pause at, so a caller can spread it over event-loop turns (a snapshot's
 * finish, snapshot-finish.ts) or run it in one go (`drain`).
 *
 * Invariant: a sliced computation changes nothing the reads see until its last step; SWAP_NEXT
 * announces that step (the swap), so the caller knows everything before it could be paused.
 */

/** What a sliced computation yields: a point to pause at; SWAP_NEXT: only the swap is left. */
export type Slice = void | typeof SWAP_NEXT;
export const SWAP_NEXT = "swap-next";

/** Slices of finishing work are checked against the clock every 256 records. */
export const SLICE_MASK = 255;

/** Runs a sliced computation to its end. */
export function drain<T>(steps: Generator<Slice, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}
