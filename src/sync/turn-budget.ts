/**
 * The time one turn of the event loop has spent on the cache's sliced work, shared by every
 * piece of it in the process: each stream reader's batches (a cache reads one stream per record
 * type, all on one HTTP/2 connection, so their messages arrive in the same turns) and each
 * snapshot's completion slices. Each piece used to count its own turn from its own last yield;
 * three streams yielding by setImmediate resumed one after another in the same check phase of
 * the loop, each with a fresh budget, so one turn could hold three budgets of work.
 *
 * A turn starts when sliced work first asks in it, and ends at the next timers phase of the loop
 * (a 1 ms timer, re-armed in place, marks it), which comes only after the poll and check phases
 * of the current iteration: work resumed by setImmediate in the same iteration counts against
 * the same turn. When the loop goes round in less than a millisecond the mark comes a little
 * later, so a turn may then also include the next short iteration; the budget only gets tighter.
 *
 * Invariant: within one iteration of the event loop, `elapsedInTurn()` never decreases.
 */
import { performance } from "node:perf_hooks";

let turnStartedAt: number | undefined;
const turnEnd: NodeJS.Timeout = setTimeout(() => {
  turnStartedAt = undefined;
}, 0);
// Never keeps the process alive. It fires once after the module loads (harmlessly), and from
// then on only when re-armed, by the first ask of a turn (refresh() re-arms a fired timer).
turnEnd.unref();

/** Milliseconds since sliced work first asked in this turn of the event loop (0 on the first ask). */
export function elapsedInTurn(): number {
  const now = performance.now();
  if (turnStartedAt === undefined) {
    turnStartedAt = now;
    turnEnd.refresh();
    return 0;
  }
  return now - turnStartedAt;
}
