/**
 * The AbortSignal one call runs under, as Connect's transports define it: aborted when the
 * caller's signal aborts (with its reason, as a ConnectError Canceled), when the timeout passes
 * (DeadlineExceeded), when the call fails (with its error) and when it finishes.
 *
 * Connect's own helper (runUnaryCall) links two AbortControllers per call, one for the deadline
 * even without a timeout, and on success aborts without a reason, so that every call builds a
 * DOMException and its stack trace: together about a tenth of the client's CPU per unary call on
 * loopback. This one arms a timer only for a timeout, listens on the caller's signal only when
 * there is one, and finishes with one shared reason. Its AbortSignal is built only when someone
 * reads it (an interceptor, or a carrier that is not ours): the carriers here watch the call
 * through `watchCallAbort`, which needs no AbortController, no event and no listener object. A
 * signal built late is aborted at once if the call already was, with the same reason, so nobody
 * can tell it was late. (Measured on sequential Puts: the controller, its abort event and the
 * listener's removal were ~30 us of the ~460 us of main-thread time per call.)
 *
 * Invariants: the call is aborted at most once, with one reason, which every watcher and the
 * signal (built before or after) see; watchers are called at most once, in the order they came,
 * and never after they stopped watching.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** The reason a call's signal carries once the call finished without an error. */
export const CALL_FINISHED: ConnectError = Object.freeze(new ConnectError("the call finished", Code.Canceled)) as ConnectError;

/**
 * The key under which a request built by createCallTransport keeps its CallSignal (an own
 * enumerable property, so an interceptor's `{ ...req }` copies it along with the signal).
 */
export const CALL_SIGNAL: unique symbol = Symbol("call signal");

export interface CallSignal {
  /** The call's AbortSignal, built at the first read. */
  readonly signal: AbortSignal;
  /**
   * The call failed with `reason`: returns the error to fail it with (the abort reason when the
   * call was aborted first, as Connect does), after aborting the call with it.
   */
  fail(reason: unknown): ConnectError;
  /** The call finished: aborts it with {@link CALL_FINISHED}. */
  finish(): void;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new ConnectError("the operation was aborted", Code.Canceled);
}

class LazyCallSignal implements CallSignal {
  #controller: AbortController | undefined;
  /** Whether the call was aborted (or finished), and with what. */
  #aborted = false;
  #reason: unknown;
  #watchers: Array<((reason: unknown) => void) | undefined> | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #callerSignal: AbortSignal | undefined;
  readonly #onCallerAbort = () => this.abort(abortReason(this.#callerSignal as AbortSignal));

  constructor(callerSignal: AbortSignal | undefined, timeoutMs: number | undefined) {
    this.#callerSignal = callerSignal;
    if (callerSignal !== undefined) {
      if (callerSignal.aborted) this.#onCallerAbort();
      else callerSignal.addEventListener("abort", this.#onCallerAbort, { once: true });
    }
    if (timeoutMs !== undefined && !this.#aborted) {
      this.#timer = setTimeout(() => this.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs);
    }
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** Aborts the call with `reason` (the first abort wins). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#release();
    this.#controller?.abort(reason);
    const watchers = this.#watchers;
    this.#watchers = undefined;
    if (watchers !== undefined) for (const watcher of watchers) watcher?.(reason);
  }

  watch(watcher: (reason: unknown) => void): () => void {
    const watchers = (this.#watchers ??= []);
    const at = watchers.push(watcher) - 1;
    return () => {
      if (this.#watchers === watchers) watchers[at] = undefined;
    };
  }

  fail(reason: unknown): ConnectError {
    const error = this.#aborted ? ConnectError.from(this.#reason, Code.Canceled) : ConnectError.from(reason);
    this.abort(error);
    return error;
  }

  finish(): void {
    this.abort(CALL_FINISHED);
  }

  #release(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#callerSignal?.removeEventListener("abort", this.#onCallerAbort);
  }
}

/**
 * The signal of a call the caller may abort with `callerSignal`, and that times out after
 * `timeoutMs` (if any). Runs until `finish()` or `fail()`.
 */
export function createCallSignal(callerSignal: AbortSignal | undefined, timeoutMs: number | undefined): CallSignal {
  return new LazyCallSignal(callerSignal, timeoutMs);
}

/**
 * Watches a request's call for its abort: `onAbort(reason)` runs once if it is aborted (at once
 * when it already was), unless the returned function was called first. Uses the request's call
 * signal when createCallTransport built it (no AbortSignal needed), else its `signal`.
 */
export function watchCallAbort(request: { readonly signal: AbortSignal }, onAbort: (reason: unknown) => void): () => void {
  const callSignal = (request as { [CALL_SIGNAL]?: CallSignal })[CALL_SIGNAL] as LazyCallSignal | undefined;
  if (callSignal !== undefined) {
    if (callSignal.aborted) {
      onAbort(callSignal.reason);
      return () => undefined;
    }
    return callSignal.watch(onAbort);
  }
  const signal = request.signal;
  if (signal.aborted) {
    onAbort(signal.reason);
    return () => undefined;
  }
  const listener = () => onAbort(signal.reason);
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}

/** The reason a request's call was aborted with, or undefined while it is not. */
export function callAbortReason(request: { readonly signal: AbortSignal }): { readonly reason: unknown } | undefined {
  const callSignal = (request as { [CALL_SIGNAL]?: CallSignal })[CALL_SIGNAL] as LazyCallSignal | undefined;
  if (callSignal !== undefined) return callSignal.aborted ? { reason: callSignal.reason } : undefined;
  return request.signal.aborted ? { reason: request.signal.reason } : undefined;
}
