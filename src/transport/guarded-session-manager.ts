/**
 * Guards connect-node's Http2SessionManager against connectrpc/connect-es#1768 (open at
 * connect-node 2.1.2; the fix proposed there would make this guard unnecessary): when a GOAWAY
 * with NO_ERROR reaches a connection without open streams, the manager destroys the session with
 * an error that Node emits only once the socket has closed. If the manager has left its "ready"
 * state by then (a new request reconnected), no listener is left and the error crashes the
 * process. Pomerium sends that GOAWAY whenever it shuts down gracefully, so an embedding service
 * must never see it as an uncaught exception.
 *
 * The guard gives every session one permanent no-op "error" listener (the manager's own
 * listeners still see every error while attached; streams carry their own), through two hooks:
 * - the manager's private `setState(state)`, which sees every session the moment it becomes
 *   ready (also one opened by connect() that never carries a request). Installed only when it is
 *   a one-argument method, as in connect-node 2.1.x; the hook only observes and always hands the
 *   state on unchanged, so a release that changed what the states look like loses nothing;
 * - the public `request()`, which guards the session of every stream it returns. It also checks
 *   the first hook at work: a stream on a session the first hook never saw means that hook is
 *   blind in this release.
 * When the first hook is missing or blind, the transport warns once (onWarning) and the second
 * one alone guards every session that carries a request, which is every session a sync stream
 * or call uses; only a session opened by connect() and never used stays unguarded.
 */
import { EventEmitter } from "node:events";
import type { ClientHttp2Session, ClientHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { warnOnce, type TransportWarningListener } from "./transport-warnings.js";

interface ManagerState {
  readonly t?: unknown;
  readonly conn?: unknown;
}

type SetState = (this: unknown, state: ManagerState) => unknown;

/** Sessions with our "error" listener. */
const guarded = new WeakSet<EventEmitter>();
/** Sessions the setState hook saw become ready. */
const seenReady = new WeakSet<ClientHttp2Session>();
const ignoreDeferredError = () => undefined;
/** The session each manager last made ready (or last ran a request on), and the sessions that have received a GOAWAY. */
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

function guard(manager: Http2SessionManager, session: ClientHttp2Session): void {
  readySessions.set(manager, session);
  if (guarded.has(session)) return;
  guarded.add(session);
  session.on("error", ignoreDeferredError);
  session.once("goaway", () => goneAway.add(session));
}

const BLIND_HOOK =
  "@connectrpc/connect-node's Http2SessionManager is not what this SDK was tested with (its private setState is " +
  "missing, has another signature or no longer sees sessions become ready): the guard against an uncaught error " +
  "after a GOAWAY now covers only sessions that carry a request";

/** The private setState when it has the shape connect-node 2.1.x gives it: a method of one argument. */
function expectedSetState(manager: Http2SessionManager): SetState | undefined {
  const setState = (manager as unknown as { setState?: unknown }).setState;
  return typeof setState === "function" && setState.length === 1 ? (setState as SetState) : undefined;
}

export function guardSessionErrors<M extends Http2SessionManager>(manager: M, onWarning?: TransportWarningListener): M {
  const setState = expectedSetState(manager);
  if (setState === undefined) {
    warnOnce(onWarning, "connect-node-session-guard", BLIND_HOOK);
  } else {
    (manager as unknown as { setState: SetState }).setState = function guardedSetState(this: unknown, state: ManagerState) {
      const session = state !== null && typeof state === "object" && state.t === "ready" ? state.conn : undefined;
      if (session instanceof EventEmitter) {
        seenReady.add(session as ClientHttp2Session);
        guard(manager, session as ClientHttp2Session);
      }
      return setState.call(this, state);
    };
  }
  const request = manager.request;
  manager.request = async function guardedRequest(this: unknown, ...args: Parameters<Http2SessionManager["request"]>): Promise<ClientHttp2Stream> {
    const stream = await request.apply(this, args);
    const session = stream.session as ClientHttp2Session | undefined;
    if (session !== undefined) {
      if (setState !== undefined && !seenReady.has(session)) warnOnce(onWarning, "connect-node-session-guard", BLIND_HOOK);
      guard(manager, session);
    }
    return stream;
  };
  return manager;
}
