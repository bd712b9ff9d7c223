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
 * A turn begun in a timers phase (work resumed by a timer) may end in that same phase, once the
 * phase's callbacks have run for a millisecond: Node fires a timer re-armed during the phase if
 * it comes due before the phase is over. The poll and check phases after it then start a new
 * turn. The cache's sliced work runs in the poll phase (socket reads) and the check phase.
 *
 * Work that finds the turn spent waits for the next one with `nextTurn()` (a stream reader
 * holding a batch it gathered while other streams used the turn up).
 *
 * Invariants: within one iteration of the event loop, `elapsedInTurn()` never decreases; a
 * `nextTurn()` waiter resumes in a later iteration, with the budget restarted, and waiters
 * resume in the order they asked.
 */
import { performance } from "node:perf_hooks";

let turnStartedAt: number | undefined;
/** Work waiting for the next turn (nextTurn), resumed in the order it asked. */
let waiting: Array<() => void> = [];
const turnEnd: NodeJS.Timeout = setTimeout(endTurn, 0);
// Never keeps the process alive on its own account: it fires once after the module loads
// (harmlessly), and from then on only when re-armed, by the first ask of a turn (refresh()
// re-arms a fired timer). While work waits for the next turn it holds the process, as the
// setImmediate that work would otherwise have yielded by does.
turnEnd.unref();

function endTurn(): void {
  turnStartedAt = undefined;
  if (waiting.length === 0) return;
  const resume = waiting;
  waiting = [];
  turnEnd.unref();
  for (const resolve of resume) resolve();
}

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

/**
 * Resolves once this turn has ended, before any sliced work asks in the next one: waiters
 * resume in the order they asked (each resumption runs as a microtask right after the turn's
 * end is marked, so the first of them is the first ask of the new turn).
 */
export function nextTurn(): Promise<void> {
  elapsedInTurn(); // a turn is running, so its end is armed
  turnEnd.ref();
  return new Promise<void>((resolve) => waiting.push(resolve));
}
