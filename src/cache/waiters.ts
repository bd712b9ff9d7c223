/**
 * Promises that settle when a condition over the cache becomes true, with a timeout, an
 * AbortSignal, and rejection on close. The cache calls `check()` whenever its state moves
 * (a batch applied, a stream position advanced); each waiter owns at most one timer and one
 * abort listener, both released the moment it settles.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export interface WaitOptions {
  /** Give up after this long (rejects with ConnectError DeadlineExceeded). Default: no limit. */
  readonly timeoutMs?: number;
  /** Aborting rejects with ConnectError Canceled (the signal's reason as its cause). */
  readonly signal?: AbortSignal;
}

interface Waiter {
  readonly condition: () => boolean;
  settle(error: ConnectError | undefined): void;
}

export class Waiters {
  readonly #waiters = new Set<Waiter>();
  #closedError: ConnectError | undefined;

  /**
   * Resolves once `condition()` is true (checked now and on each `check()`).
   * @param describe builds the timeout message (called only on timeout, so it can read live state)
   */
  wait(condition: () => boolean, options: WaitOptions, what: string, describe: () => string): Promise<void> {
    if (this.#closedError !== undefined) return Promise.reject(this.#closedError);
    if (condition()) return Promise.resolve();
    const { timeoutMs, signal } = options;
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
      return Promise.reject(new ConnectError("timeoutMs must be a non-negative number of milliseconds", Code.InvalidArgument));
    }
    if (signal?.aborted) return Promise.reject(abortedError(what, signal));
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => waiter.settle(abortedError(what, signal as AbortSignal));
      const waiter: Waiter = {
        condition,
        settle: (error) => {
          if (!this.#waiters.delete(waiter)) return;
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          if (error === undefined) resolve();
          else reject(error);
        },
      };
      this.#waiters.add(waiter);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => waiter.settle(new ConnectError(`${what}: not reached within ${timeoutMs} ms (${describe()})`, Code.DeadlineExceeded)), timeoutMs);
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Resolves every waiter whose condition now holds. */
  check(): void {
    if (this.#waiters.size === 0) return;
    for (const waiter of [...this.#waiters]) if (waiter.condition()) waiter.settle(undefined);
  }

  get size(): number {
    return this.#waiters.size;
  }

  /** Rejects every pending and future wait with `error`. */
  close(error: ConnectError): void {
    this.#closedError = error;
    for (const waiter of [...this.#waiters]) waiter.settle(error);
  }
}

function abortedError(what: string, signal: AbortSignal): ConnectError {
  return new ConnectError(`${what}: aborted`, Code.Canceled, undefined, undefined, signal.reason);
}
