/** What a read throws when the cache is past its staleness bound (`maxStalenessMs`). */
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The cache cannot vouch for its answer: it was last known caught up with the databroker
 * `stalenessMs` ago (undefined: never), more than `maxStalenessMs`. A ConnectError with
 * Code.Unavailable, so a host can treat it like a databroker it cannot reach.
 */
export class StaleCacheError extends ConnectError {
  // ConnectError's own instanceof test (a static Symbol.hasInstance every subclass inherits)
  // recognises a ConnectError by prototype or by `name === "ConnectError"`; the name is kept so
  // `instanceof ConnectError` holds, and this class checks its own prototype chain.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  readonly stalenessMs: number | undefined;
  readonly maxStalenessMs: number;

  constructor(stalenessMs: number | undefined, maxStalenessMs: number) {
    super(
      stalenessMs === undefined
        ? `databroker cache has not caught up with the databroker yet (bound ${maxStalenessMs} ms)`
        : `databroker cache may be ${stalenessMs} ms stale, more than its bound of ${maxStalenessMs} ms`,
      Code.Unavailable,
    );
    this.stalenessMs = stalenessMs;
    this.maxStalenessMs = maxStalenessMs;
  }
}
