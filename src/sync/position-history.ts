/**
 * Where a Sync stream's position was, and when: the loop re-reads from the position it held a
 * while ago (see `refresh` in sync-loop.ts), so a commit that became visible after the stream had
 * passed its version is read after all.
 *
 * Samples are (time, position) pairs taken when the position advances, at most one per
 * `minSpacingMs`; a skipped sample only makes a later rewind go further back (more re-reading,
 * never less), since a sample's position is the position at its own time.
 */
export class PositionHistory {
  #samples: { at: number; position: bigint }[] = [];

  constructor(private readonly minSpacingMs: number) {}

  /** Starts over from one known position (a completed snapshot). */
  reset(at: number, position: bigint): void {
    this.#samples = [{ at, position }];
  }

  /** The position reached `position` at `at`. */
  record(at: number, position: bigint): void {
    const last = this.#samples.at(-1);
    if (last === undefined) {
      this.#samples.push({ at, position });
      return;
    }
    if (position <= last.position || at - last.at < this.minSpacingMs) return;
    this.#samples.push({ at, position });
  }

  /**
   * The newest position held at or before `cutoff`, or the oldest known one when every sample is
   * newer; undefined when nothing is known. Samples older than the one returned are dropped: a
   * later call has a later cutoff.
   */
  rewindPoint(cutoff: number): bigint | undefined {
    const samples = this.#samples;
    if (samples.length === 0) return undefined;
    let chosen = 0;
    for (let i = 1; i < samples.length && samples[i]!.at <= cutoff; i++) chosen = i;
    if (chosen > 0) this.#samples = samples.slice(chosen);
    return this.#samples[0]!.position;
  }
}
