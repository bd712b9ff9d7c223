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
import type { ClientHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { Http2SessionManager } from "@connectrpc/connect-node";

interface ManagerState {
  readonly t: string;
  readonly conn?: unknown;
}

const guarded = new WeakSet<EventEmitter>();
const ignoreDeferredError = () => undefined;
/** The session each manager last made ready, and the sessions that have received a GOAWAY. */
const readySessions = new WeakMap<Http2SessionManager, ClientHttp2Session>();
const goneAway = new WeakSet<ClientHttp2Session>();

/**
 * True when the manager's current session is already being shut down: the peer sent GOAWAY, or
 * the session or its socket is closing. Destroying such a session ourselves (abort) while a
 * stream is open can wedge Node 20.13+ in an endless RST_STREAM write loop at 100% CPU with
 * memory growing without bound (nodejs/node#52952); Node tears it down on its own instead, and
 * the manager opens a new connection for the next call.
 */
export function isSessionShuttingDown(manager: Http2SessionManager): boolean {
  const session = readySessions.get(manager);
  if (session === undefined) return false;
  const socket = session.socket as Socket | undefined;
  return (
    goneAway.has(session) ||
    session.closed ||
    session.destroyed ||
    socket === undefined ||
    socket.destroyed ||
    !socket.writable ||
    socket.readableEnded
  );
}

export function guardSessionErrors<M extends Http2SessionManager>(manager: M): M {
  const internals = manager as unknown as { setState?: (state: ManagerState) => void };
  const setState = internals.setState;
  if (typeof setState !== "function") {
    throw new Error("@connectrpc/connect-node no longer has Http2SessionManager.setState: re-check the connect-es#1768 guard");
  }
  internals.setState = function guardedSetState(this: unknown, state: ManagerState) {
    if (state.t === "ready" && state.conn instanceof EventEmitter) {
      const session = state.conn as ClientHttp2Session;
      readySessions.set(manager, session);
      if (!guarded.has(session)) {
        guarded.add(session);
        session.on("error", ignoreDeferredError);
        session.once("goaway", () => goneAway.add(session));
      }
    }
    return setState.call(this, state);
  };
  return manager;
}
