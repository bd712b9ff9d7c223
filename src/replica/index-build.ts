/**
 * Re-indexing a live table without a long event-loop turn. When the server's indexable_fields
 * change, or the host adds a named index, on a table that is already served, the new indexes are
 * built on the side in slices (about 4 ms each, yielding to the event loop in between), while
 * changes keep applying to the table and to the indexes being built; when every held record is
 * in, the new indexes are swapped in in one step.
 *
 * Invariants:
 * - reads never see a half-built index: until the swap, field queries and `options()` answer
 *   from the indexes and options in place before; a named index still being built is absent
 *   explicitly (byIndex throws ConnectError Unavailable), never partly filled;
 * - a build whose table stops being live (a snapshot replaced it: the new table was built with
 *   the same indexes) or that a newer options change supersedes is dropped, never swapped in;
 * - nothing throws from a timer: errors go to the replica's error hook; `close()` clears the one
 *   pending timer, after which builds not finished stay unfinished (no timer, nothing swapped).
 */

import type { TypeTable } from "./type-table.js";

/** About how long one slice of index building runs before yielding, as the snapshot path. */
export const INDEX_BUILD_SLICE_MS = 4;

/** The side work for one table's new indexes; see TypeTable.beginOptions / beginIndex. */
export interface IndexBuild {
  /** The live table the build is for. */
  readonly table: TypeTable;
  /** True once `cancel` or `swap` ran. */
  readonly ended: boolean;
  /**
   * Indexes held records until `deadline` (a performance.now() time); true once every held
   * record is in. `onError` receives what an index function throws (that record is left out).
   */
  step(deadline: number, onError: (error: unknown) => void): boolean;
  /** Makes the new indexes the ones reads use. */
  swap(): void;
  /** Drops the build; the table keeps the indexes it had. */
  cancel(): void;
}

type SchedulerState = "open" | "closed";

/** Runs index builds one slice per event-loop turn (setImmediate), first in, first done. */
export class IndexBuildScheduler {
  readonly #queue: IndexBuild[] = [];
  readonly #isLive: (build: IndexBuild) => boolean;
  readonly #onError: (error: unknown) => void;
  readonly #sliceMs: number;
  #timer: NodeJS.Immediate | undefined;
  #state: SchedulerState = "open";

  /**
   * @param isLive false once a build's table is no longer served (the build is then dropped)
   * @param onError where errors go (index functions that throw, and any failure of a slice)
   */
  constructor(isLive: (build: IndexBuild) => boolean, onError: (error: unknown) => void, sliceMs = INDEX_BUILD_SLICE_MS) {
    this.#isLive = isLive;
    this.#onError = onError;
    this.#sliceMs = sliceMs;
  }

  /**
   * Runs a first slice at once (a small table is done in it, so small tables swap synchronously)
   * and schedules the rest.
   */
  start(build: IndexBuild): void {
    this.#queue.push(build);
    if (this.#queue.length === 1) this.#run();
  }

  /** True while a build for `type` (any type when omitted) is in progress. */
  isBuilding(type?: string): boolean {
    return this.#queue.some((b) => !b.ended && (type === undefined || b.table.type === type) && this.#isLive(b));
  }

  /** Clears the pending timer; nothing is scheduled afterwards. Idempotent. */
  close(): void {
    this.#state = "closed";
    if (this.#timer !== undefined) clearImmediate(this.#timer);
    this.#timer = undefined;
  }

  readonly #run = (): void => {
    this.#timer = undefined;
    const deadline = performance.now() + this.#sliceMs;
    while (this.#queue.length > 0) {
      const build = this.#queue[0] as IndexBuild;
      try {
        if (build.ended) {
          // Superseded by a newer options change: already dropped.
        } else if (!this.#isLive(build)) {
          build.cancel();
        } else if (build.step(deadline, this.#onError)) {
          build.swap();
        } else {
          break; // out of time: the rest next turn
        }
      } catch (error) {
        // A failure of the build itself (not an index function): drop it rather than retry forever.
        this.#onError(error);
        if (!build.ended) build.cancel();
      }
      this.#queue.shift();
      if (performance.now() >= deadline) break;
    }
    if (this.#queue.length > 0 && this.#state === "open") this.#timer = setImmediate(this.#run);
  };
}
