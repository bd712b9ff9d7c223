/**
 * The AbortSignal one call runs under, as Connect's transports define it: aborted when the
 * caller's signal aborts (with its reason, as a ConnectError Canceled), when the timeout passes
 * (DeadlineExceeded), when the call fails (with its error) and when it finishes.
 *
 * Connect's own helper (runUnaryCall) links two AbortControllers per call, one for the deadline
 * even without a timeout, and on success aborts without a reason, so that every call builds a
 * DOMException and its stack trace: together about a tenth of the client's CPU per unary call on
 * loopback. This one builds one controller, arms a timer only for a timeout, listens on the
 * caller's signal only when there is one, and finishes with one shared reason.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** The reason a call's signal carries once the call finished without an error. */
export const CALL_FINISHED: ConnectError = Object.freeze(new ConnectError("the call finished", Code.Canceled)) as ConnectError;

export interface CallSignal {
  readonly signal: AbortSignal;
  /**
   * The call failed with `reason`: returns the error to fail it with (the abort reason when the
   * signal aborted first, as Connect does), after aborting the signal with it.
   */
  fail(reason: unknown): ConnectError;
  /** The call finished: aborts the signal with {@link CALL_FINISHED}. */
  finish(): void;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new ConnectError("the operation was aborted", Code.Canceled);
}

export function createCallSignal(callerSignal: AbortSignal | undefined, timeoutMs: number | undefined): CallSignal {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onCallerAbort = () => {
    if (!controller.signal.aborted) controller.abort(abortReason(callerSignal as AbortSignal));
  };
  if (callerSignal !== undefined) {
    if (callerSignal.aborted) onCallerAbort();
    else callerSignal.addEventListener("abort", onCallerAbort, { once: true });
  }
  if (timeoutMs !== undefined && !controller.signal.aborted) {
    timer = setTimeout(() => {
      if (!controller.signal.aborted) controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    }, timeoutMs);
  }
  const release = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    callerSignal?.removeEventListener("abort", onCallerAbort);
  };
  return {
    signal: controller.signal,
    fail(reason) {
      const error = controller.signal.aborted ? ConnectError.from(controller.signal.reason, Code.Canceled) : ConnectError.from(reason);
      release();
      if (!controller.signal.aborted) controller.abort(error);
      return error;
    },
    finish() {
      release();
      if (!controller.signal.aborted) controller.abort(CALL_FINISHED);
    },
  };
}
