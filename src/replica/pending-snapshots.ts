/**
 * The snapshots in progress: built on the side (snapshot-build.ts), not swapped in yet.
 *
 * Invariants:
 * - a newer snapshot of an overlapping scope supersedes every one in progress: two SyncLatest
 *   scopes overlap when either covers every type or they name the same type;
 * - while one is in progress the live tables of the types it covers do not change (their stream
 *   is busy with this SyncLatest); a change or options event for a covered type meanwhile (only
 *   possible when overlapping streams feed one replica) marks it dirty, and its swap then
 *   recomputes the diff;
 * - a snapshot leaves the set when it is finished, superseded or discarded, never otherwise.
 */

/** A snapshot in progress; "superseded" by a newer overlapping one, "discarded" by its stream. */
export interface PendingSnapshot {
  readonly type: string;
  status: "building" | "finishing" | "finished" | "superseded" | "discarded";
  /** A covered live table changed meanwhile: the swap recomputes the diff. */
  dirty: boolean;
  /** The highest version listed (0 when none): the listing reflects the server at least that far. */
  maxListed: bigint;
}

/** Two SyncLatest scopes overlap when either covers every type or they name the same type. */
function overlaps(a: string, b: string): boolean {
  return a === "" || b === "" || a === b;
}

export class PendingSnapshots {
  readonly #pending = new Set<PendingSnapshot>();

  /** How many snapshots are in progress. */
  get size(): number {
    return this.#pending.size;
  }

  /** A new snapshot of `type` ("" every type) is in progress; the overlapping ones are superseded. */
  start(type: string): PendingSnapshot {
    for (const p of this.#pending) {
      if (overlaps(p.type, type)) {
        p.status = "superseded";
        this.#pending.delete(p);
      }
    }
    const pending: PendingSnapshot = { type, status: "building", dirty: false, maxListed: 0n };
    this.#pending.add(pending);
    return pending;
  }

  /** The snapshot is no longer in progress (finished or discarded; its status says which). */
  end(pending: PendingSnapshot): void {
    this.#pending.delete(pending);
  }

  /** Marks snapshots in progress over `type` dirty: the live table changed under them. */
  touchedLive(type: string): void {
    for (const p of this.#pending) if (overlaps(p.type, type)) p.dirty = true;
  }
}
