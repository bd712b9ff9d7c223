/**
 * A read loop like an authorizer's: getSession on ids the cache holds, at a steady rate, a slice
 * every few milliseconds so it never starves the sync loop of the event loop. Counts lookups and
 * hits (found and valid) for the status's lookups/s.
 */
import type { DatabrokerCache } from "../cache/databroker-cache.js";
import { SESSION_TYPE } from "../records/type-urls.js";

const TICK_MS = 20;
/** How often the sample of ids to look up is refreshed from the cache. */
const ID_REFRESH_MS = 2_000;
const ID_SAMPLE = 2_000;

export class SessionReadLoop {
  lookups = 0;
  hits = 0;
  readonly #cache: DatabrokerCache;
  readonly #perTick: number;
  #ids: string[] = [];
  #idsAt = 0;
  #next = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(cache: DatabrokerCache, lookupsPerSecond: number) {
    this.#cache = cache;
    this.#perTick = Math.max(1, Math.round((lookupsPerSecond * TICK_MS) / 1000));
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = Date.now();
    if (now - this.#idsAt > ID_REFRESH_MS) {
      this.#idsAt = now;
      // Ids of records held (valid or not) plus a few unknown ones, as real traffic has.
      this.#ids = this.#cache.query(SESSION_TYPE, { limit: ID_SAMPLE }).records.map((r) => r.id);
      this.#ids.push("session-that-does-not-exist");
    }
    if (this.#ids.length === 0) return;
    for (let i = 0; i < this.#perTick; i++) {
      this.#next = (this.#next + 7919) % this.#ids.length;
      const session = this.#cache.getSession(this.#ids[this.#next]!);
      this.lookups++;
      if (session !== undefined) this.hits++;
    }
  }
}
