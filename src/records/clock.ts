/** The time source for validity checks; injectable so tests can sit exactly on a boundary. */
export interface Clock {
  /** Milliseconds since the Unix epoch, like Date.now(). */
  now(): number;
}

/** Date.now() on every call. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * The most reads one coarse clock reading serves. Date.now() costs ~40 ns and allocates a 16-byte
 * number per call, as much as the rest of a hot read; one reading per 4,096 reads makes both
 * negligible while a tight loop of reads (~100 ns each) still sees the clock move every ~0.5 ms.
 */
export const READS_PER_COARSE_READING = 4096;

/**
 * The clock the replica's typed reads use when none is injected: `coarseReading[0]` is a
 * Date.now() taken during the current synchronous job (a promise reaction marks it stale as soon
 * as the job ends, so the next job reads the clock again) and at most
 * {@link READS_PER_COARSE_READING} reads ago. A read can thus see time up to one job (or 4,096
 * reads) behind, never ahead: a session is never refused early.
 *
 * Why a typed array and a separate tick: optimised code compares `coarseReading[0]` with a
 * validity limit as a raw double, while a number returned by a call that is not inlined gets
 * boxed (a 16-byte allocation per read).
 */
export const coarseReading = new Float64Array(1);
let readsLeft = 0;
let staleQueued = false;
const settled = Promise.resolve();

const markStale = (): void => {
  readsLeft = 0;
  staleQueued = false;
};

function takeReading(): void {
  coarseReading[0] = Date.now();
  readsLeft = READS_PER_COARSE_READING - 1; // this read is the first of them
  if (!staleQueued) {
    staleQueued = true;
    // A bare promise reaction: Node's queueMicrotask adds an async resource (~0.5 µs per job).
    void settled.then(markStale);
  }
}

/** Call right before each use of {@link coarseReading}: counts the read, reads the clock when due. */
export function tickCoarseClock(): void {
  if (--readsLeft < 0) takeReading();
}
