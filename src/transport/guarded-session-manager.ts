/**
 * Guards connect-node's Http2SessionManager against connectrpc/connect-es#1768 (open at the
 * pinned 2.1.2): when a GOAWAY with NO_ERROR reaches a connection without open streams, the
 * manager destroys the session with an error that Node emits only once the socket has closed.
 * If the manager has left its "ready" state by then (a new request reconnected), no listener is
 * left and the error crashes the process. Pomerium sends that GOAWAY whenever it shuts down
 * gracefully, so an embedding service must never see it as an uncaught exception.
 *
 * The guard gives every session that reaches "ready" one permanent no-op "error" listener (the
 * manager's own listeners still see every error while attached; streams carry their own). It
 * hooks the manager's internal state change, which is why connect-node is pinned exactly; if a
 * release renames it, construction fails loudly instead of silently losing the guard.
 */
import { EventEmitter } from "node:events";
import type { Http2SessionManager } from "@connectrpc/connect-node";

interface ManagerState {
  readonly t: string;
  readonly conn?: unknown;
}

const guarded = new WeakSet<EventEmitter>();
const ignoreDeferredError = () => undefined;

export function guardSessionErrors<M extends Http2SessionManager>(manager: M): M {
  const internals = manager as unknown as { setState?: (state: ManagerState) => void };
  const setState = internals.setState;
  if (typeof setState !== "function") {
    throw new Error("@connectrpc/connect-node no longer has Http2SessionManager.setState: re-check the connect-es#1768 guard");
  }
  internals.setState = function guardedSetState(this: unknown, state: ManagerState) {
    if (state.t === "ready" && state.conn instanceof EventEmitter && !guarded.has(state.conn)) {
      guarded.add(state.conn);
      state.conn.on("error", ignoreDeferredError);
    }
    return setState.call(this, state);
  };
  return manager;
}
