/**
 * Warnings the transport layer gives about its dependencies. A few guards rely on internals of
 * @connectrpc/connect-node and @grpc/grpc-js; each checks at start that they are what it
 * expects and, when they are not, uses a safe behaviour instead and says so here. The warnings
 * reach the application through the transport's `onWarning` option (the cache wires it to its
 * logger), never through a process-wide channel, and each is given once per listener.
 */

/** The guards that depend on a dependency's internals. */
export type DependencyGuard = "connect-node-session-guard" | "connect-node-stream-reset" | "grpc-js-ip-server-name";

/** Secret-free facts attached to a warning: which guard and which dependency. */
export type TransportWarningAttributes = {
  readonly guard: DependencyGuard;
  readonly dependency: "@connectrpc/connect-node" | "@grpc/grpc-js";
};

/** Receives a warning; the cache logs it at "warn". */
export type TransportWarningListener = (message: string, attributes: TransportWarningAttributes) => void;

const DEPENDENCY: { readonly [G in DependencyGuard]: TransportWarningAttributes["dependency"] } = {
  "connect-node-session-guard": "@connectrpc/connect-node",
  "connect-node-stream-reset": "@connectrpc/connect-node",
  "grpc-js-ip-server-name": "@grpc/grpc-js",
};

/** The guards each listener has already heard about. */
const given = new WeakMap<TransportWarningListener, Set<DependencyGuard>>();

/**
 * Tells `listener` (when there is one) about `guard`, unless it was told already: every
 * transport of a cache shares the cache's listener, and one warning per cause is enough.
 * A throwing listener is ignored.
 */
export function warnOnce(listener: TransportWarningListener | undefined, guard: DependencyGuard, message: string): void {
  if (listener === undefined) return;
  let guards = given.get(listener);
  if (guards === undefined) {
    guards = new Set();
    given.set(listener, guards);
  }
  if (guards.has(guard)) return;
  guards.add(guard);
  try {
    listener(message, { guard, dependency: DEPENDENCY[guard] });
  } catch {
    // A warning must never break a connection.
  }
}
