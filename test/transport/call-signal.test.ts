import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { CALL_FINISHED, CALL_SIGNAL, callAbortReason, createCallSignal, watchCallAbort, type CallSignal } from "../../src/transport/call-signal.js";

/** A request as createCallTransport builds it: the signal read through the call signal, which rides along. */
function requestUnder(callSignal: CallSignal): { readonly signal: AbortSignal; readonly [CALL_SIGNAL]: CallSignal } {
  return {
    get signal() {
      return callSignal.signal;
    },
    [CALL_SIGNAL]: callSignal,
  };
}

describe("call signal", () => {
  it("is aborted once, with one reason, which watchers and the signal (built before or after) all see", () => {
    const early = createCallSignal(undefined, undefined);
    const earlySignal = early.signal;
    const late = createCallSignal(undefined, undefined);
    const seen: unknown[] = [];
    watchCallAbort(requestUnder(late), (reason) => seen.push(reason));
    const first = new ConnectError("first", Code.Internal);
    for (const s of [early, late]) {
      expect(s.fail(first)).toBe(first);
      // A second failure answers with the first reason and changes nothing.
      expect(s.fail(new Error("second"))).toBe(first);
      s.finish();
    }
    expect(earlySignal.aborted).toBe(true);
    expect(earlySignal.reason).toBe(first);
    const lateSignal = late.signal;
    expect(lateSignal.aborted).toBe(true);
    expect(lateSignal.reason).toBe(first);
    expect(seen).toEqual([first]);
  });

  it("calls watchers once, in the order they came, never after they stopped watching; a watcher that comes late hears at once", () => {
    const callSignal = createCallSignal(undefined, undefined);
    const request = requestUnder(callSignal);
    const calls: string[] = [];
    watchCallAbort(request, () => calls.push("a"));
    const stopB = watchCallAbort(request, () => calls.push("b"));
    watchCallAbort(request, () => calls.push("c"));
    stopB();
    expect(callAbortReason(request)).toBeUndefined();
    callSignal.finish();
    callSignal.finish();
    expect(calls).toEqual(["a", "c"]);
    expect(callAbortReason(request)).toEqual({ reason: CALL_FINISHED });
    watchCallAbort(request, (reason) => calls.push(reason === CALL_FINISHED ? "late" : "wrong"));
    expect(calls).toEqual(["a", "c", "late"]);
  });

  it("follows the caller's signal, with its reason as the abort reason, and lets go of it when the call ends", () => {
    const caller = new AbortController();
    const callSignal = createCallSignal(caller.signal, undefined);
    const seen: unknown[] = [];
    watchCallAbort(requestUnder(callSignal), (reason) => seen.push(reason));
    const reason = new ConnectError("stop", Code.Canceled);
    caller.abort(reason);
    expect(seen).toEqual([reason]);
    expect(callSignal.signal.reason).toBe(reason);
    expect(callSignal.fail(new Error("after"))).toBe(reason);

    const laterCaller = new AbortController();
    const finished = createCallSignal(laterCaller.signal, undefined);
    finished.finish();
    laterCaller.abort(new Error("too late"));
    expect(finished.signal.reason).toBe(CALL_FINISHED);
  });

  it("is aborted at once under a caller's signal that already was", () => {
    const caller = new AbortController();
    caller.abort(new Error("before"));
    const request = requestUnder(createCallSignal(caller.signal, undefined));
    expect(callAbortReason(request)?.reason).toBe(caller.signal.reason);
  });

  it("times out with DeadlineExceeded", async () => {
    const callSignal = createCallSignal(undefined, 5);
    const reason = await new Promise<unknown>((resolve) => watchCallAbort(requestUnder(callSignal), resolve));
    expect(reason).toBeInstanceOf(ConnectError);
    expect((reason as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect(callSignal.signal.aborted).toBe(true);
  });

  it("rides along when an interceptor copies the request: the copy's watchers hear the call's abort", () => {
    const callSignal = createCallSignal(undefined, undefined);
    const copy = { ...requestUnder(callSignal) };
    const seen: unknown[] = [];
    watchCallAbort(copy, (reason) => seen.push(reason));
    callSignal.finish();
    expect(seen).toEqual([CALL_FINISHED]);
    expect(copy.signal.aborted).toBe(true);
  });

  it("watches a plain request (one no createCallTransport built) through its AbortSignal", () => {
    const controller = new AbortController();
    const seen: unknown[] = [];
    const stop = watchCallAbort({ signal: controller.signal }, (reason) => seen.push(reason));
    const other = new AbortController();
    const stopOther = watchCallAbort({ signal: other.signal }, (reason) => seen.push(reason));
    stopOther();
    other.abort(new Error("unheard"));
    controller.abort("why");
    controller.abort("again");
    stop();
    expect(seen).toEqual(["why"]);
    expect(callAbortReason({ signal: controller.signal })).toEqual({ reason: "why" });
  });
});
