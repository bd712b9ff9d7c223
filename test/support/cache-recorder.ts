/**
 * Records what a cache says through its public observables (every `state$` value, every
 * `changes$` batch) and waits on them: a wait resolves on the emission that satisfies it, or
 * fails after its timeout with what the cache was doing. Subscribe before acting.
 */
import type { Subscription } from "rxjs";
import type { CacheChange, CacheState, CacheStreamState, DatabrokerCache } from "../../src/index.js";

interface Waiter {
  readonly check: () => boolean;
}

export class CacheRecorder {
  /** Every state$ value, oldest first (the first is the one replayed on subscribe). */
  readonly states: CacheState[] = [];
  /** Every changes$ batch (all types), oldest first. */
  readonly changes: CacheChange[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #subscriptions: Subscription[] = [];

  constructor(private readonly cache: DatabrokerCache) {
    this.#subscriptions.push(
      cache.state$.subscribe((s) => {
        this.states.push(s);
        this.#wake();
      }),
      cache.changes$().subscribe((c) => {
        this.changes.push(c);
        this.#wake();
      }),
    );
  }

  /** Resolves with the first state (the current one included) for which `predicate` holds. */
  state(predicate: (state: CacheState) => boolean, what: string, timeoutMs = 5000): Promise<CacheState> {
    return this.#wait(() => {
      const s = this.cache.state;
      return predicate(s) ? s : undefined;
    }, what, timeoutMs);
  }

  /** Resolves with the first batch at index >= `from` for which `predicate` holds. */
  change<T extends CacheChange>(predicate: (change: CacheChange) => change is T, what: string, timeoutMs?: number, from?: number): Promise<T>;
  change(predicate: (change: CacheChange) => boolean, what: string, timeoutMs?: number, from?: number): Promise<CacheChange>;
  change(predicate: (change: CacheChange) => boolean, what: string, timeoutMs = 5000, from = 0): Promise<CacheChange> {
    let next = from;
    return this.#wait(() => {
      for (; next < this.changes.length; next++) if (predicate(this.changes[next]!)) return this.changes[next];
      return undefined;
    }, what, timeoutMs);
  }

  /** The batches since index `from`, of `type` when given. */
  since(from: number, type?: string): CacheChange[] {
    return this.changes.slice(from).filter((c) => type === undefined || c.type === type);
  }

  /** One line per stream, for failure messages. */
  describe(state: CacheState = this.cache.state): string {
    return state.streams.map(describeStream).join("; ");
  }

  stop(): void {
    for (const s of this.#subscriptions.splice(0)) s.unsubscribe();
  }

  #wait<T>(probe: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const now = probe();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        check: () => {
          const found = probe();
          if (found === undefined) return false;
          clearTimeout(timer);
          resolve(found);
          return true;
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; streams: ${this.describe()}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) if (w.check()) this.#waiters.delete(w);
  }
}

export function describeStream(s: CacheStreamState): string {
  const type = s.type.slice(s.type.lastIndexOf(".") + 1) || "all";
  return `${type}: ${s.state} attempt=${s.attempt} sv=${s.serverVersion} rv=${s.recordVersion}${s.retryInMs !== undefined ? ` retryIn=${s.retryInMs}` : ""}${s.lastError !== undefined ? ` (${s.lastError})` : ""}`;
}

/** Every mirrored type's stream is live on `serverVersion` (any, when omitted). */
export function allLive(state: CacheState, serverVersion?: bigint): boolean {
  return state.streams.every((s) => s.state === "live" && (serverVersion === undefined || s.serverVersion === serverVersion));
}
