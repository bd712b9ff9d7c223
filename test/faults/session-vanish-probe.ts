/**
 * The second end check of every fault scenario: a reader that keeps calling getSession (every
 * ~1 ms, as a busy authorizer would) for sessions that exist before the fault and after it, and
 * records every read that returned undefined once the cache was ready. Readiness is sticky and a
 * resync swaps tables in one step, so there must be none.
 */
import type { DatabrokerCache } from "../../src/cache/databroker-cache.js";

export interface VanishProbe {
  /** Reads done while the cache was ready. */
  readonly reads: number;
  /** Reads that found no session, as "id@ms-since-start". */
  readonly misses: readonly string[];
  /** Stops the reader; returns the misses. */
  stop(): readonly string[];
}

export function startVanishProbe(cache: DatabrokerCache, ids: readonly string[]): VanishProbe {
  const started = performance.now();
  const misses: string[] = [];
  let reads = 0;
  const timer = setInterval(() => {
    if (!cache.isReady) return;
    for (const id of ids) {
      reads++;
      if (cache.getSession(id) === undefined && misses.length < 100) misses.push(`${id}@${Math.round(performance.now() - started)}`);
    }
  }, 1);
  let stopped = false;
  return {
    get reads() {
      return reads;
    },
    misses,
    stop() {
      if (!stopped) clearInterval(timer);
      stopped = true;
      return misses;
    },
  };
}
