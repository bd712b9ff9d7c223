/**
 * The deletions a replica has seen above its floor: (type, id) -> the version that deleted it.
 *
 * Why: a Sync stream may replay changes the replica already applied (a resume from an older
 * position, a periodic re-read behind the position that catches late commits, a lagging
 * snapshot followed by its Sync). A replayed upsert of a record that was deleted since must not
 * bring it back, and the table alone cannot tell "deleted at v" from "never seen". Deletions at or
 * below the floor need no memory: changes at or below the floor are never applied again.
 *
 * Bounded by the floor: the sync loop raises it at each re-read (to the oldest position it may
 * still replay from), and everything at or below it is forgotten. Without re-reads (a replica
 * fed by hand) the replica caps it with {@link forgetOldest}, raising its floor instead.
 */
export class RecentDeletions {
  readonly #versions = new Map<string, bigint>();
  /** Keys in the order they were remembered, for pruning from the oldest. */
  #order: { key: string; version: bigint }[] = [];
  #head = 0;

  /** How many deletions are remembered. */
  get size(): number {
    return this.#versions.size;
  }

  /** Remembers that `id` of `type` was deleted at `version` (a newer deletion wins). */
  remember(type: string, id: string, version: bigint): void {
    const key = keyOf(type, id);
    const held = this.#versions.get(key);
    if (held !== undefined && held >= version) return;
    this.#versions.set(key, version);
    this.#order.push({ key, version });
  }

  /** The version that deleted the record, if remembered. */
  deletedAt(type: string, id: string): bigint | undefined {
    return this.#versions.size === 0 ? undefined : this.#versions.get(keyOf(type, id));
  }

  /**
   * Forgets deletions at or below `floor`. Deletions are mostly remembered in version order, so
   * this walks from the oldest and stops at the first newer one (an out-of-order older entry
   * behind it waits for the next prune: keeping a deletion longer is always safe).
   */
  forgetThrough(floor: bigint): void {
    const order = this.#order;
    let i = this.#head;
    for (; i < order.length; i++) {
      const entry = order[i]!;
      if (entry.version > floor) break;
      if (this.#versions.get(entry.key) === entry.version) this.#versions.delete(entry.key);
    }
    if (i === order.length) {
      this.#order = [];
      this.#head = 0;
    } else if (i > 1024 && i * 2 > order.length) {
      this.#order = order.slice(i);
      this.#head = 0;
    } else {
      this.#head = i;
    }
  }

  /**
   * Forgets the oldest deletions until at most `keep` are left; returns the highest version
   * forgotten (the floor must move up to it: below it, deletions are no longer known).
   */
  forgetOldest(keep: number): bigint | undefined {
    let highest: bigint | undefined;
    const order = this.#order;
    let i = this.#head;
    for (; i < order.length && this.#versions.size > keep; i++) {
      const entry = order[i]!;
      if (this.#versions.get(entry.key) !== entry.version) continue;
      this.#versions.delete(entry.key);
      if (highest === undefined || entry.version > highest) highest = entry.version;
    }
    this.#order = order.slice(i);
    this.#head = 0;
    return highest;
  }

  clear(): void {
    this.#versions.clear();
    this.#order = [];
    this.#head = 0;
  }
}

function keyOf(type: string, id: string): string {
  return `${type}\u0000${id}`;
}
