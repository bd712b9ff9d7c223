/**
 * One Connect transport to one databroker URL: the gRPC protocol over HTTP/2 (h2c for
 * `http://`, TLS for `https://`), keepalive pings Pomerium accepts, no compression offered,
 * and the per-call JWT interceptor. Carried by connect-node or our own call layer on node:http2
 * (both below, on connect-node's session manager), by the same call layer on our own HTTP/2
 * connection (http2-frames/, below), or by @grpc/grpc-js (grpc-js-databroker-transport.ts). We
 * own the connection either way, so close() can tear it down and leave no sockets or timers
 * behind.
 */
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { checkConnectNodeResetWording } from "./connect-node-reset-probe.js";
import { guardSessionErrors, isSessionShuttingDown } from "./guarded-session-manager.js";
import { FLOW_CONTROL_WINDOW_BYTES } from "./flow-control-window.js";
import { createGrpcJsDatabrokerTransport } from "./grpc-js-databroker-transport.js";
import { createHttp2GrpcTransport } from "./http2-grpc-transport.js";
import { FrameConnectionManager } from "./http2-frames/frame-connection-manager.js";
import { createFrameGrpcTransport } from "./http2-frames/frame-grpc-transport.js";
import { createJwtInterceptor } from "./jwt-interceptor.js";
import { MAX_TIMER_DELAY_MS } from "./max-timer-delay.js";
import { parseSharedSecret } from "./shared-secret.js";
import { http2OptionsFor, type DatabrokerTlsOptions } from "./tls-options.js";
import { warnOnce, type TransportWarningListener } from "./transport-warnings.js";

/** Pomerium's server refuses pings more often than every 5 minutes (spec section 5). */
export const MIN_PING_INTERVAL_MS = 5 * 60_000;
/** What Pomerium's own clients use: a ping every 6 minutes, 20 s to answer. */
export const DEFAULT_PING_INTERVAL_MS = 6 * 60_000;
export const DEFAULT_PING_TIMEOUT_MS = 20_000;

/**
 * How long close() waits for cancelled streams to finish before tearing the connection down.
 * Aborting while a stream is still closing makes connect-node's session manager re-arm its ping
 * and idle timers (up to 15 minutes), which pins the closed session in memory until they fire.
 */
export const CLOSE_STREAMS_TIMEOUT_MS = 1000;
const CLOSE_POLL_MS = 5;

/**
 * Which HTTP/2 gRPC client carries the calls. Both give the same Connect `Transport` (the
 * generated Connect clients are the API either way), the same JWT, TLS, keepalive and close
 * behaviour:
 * - `"connect-node"`: @connectrpc/connect-node's gRPC transport over node:http2.
 * - `"grpc-js"`: @grpc/grpc-js's channel under a Connect transport (grpc-js-transport.ts);
 *   reads server streams with fewer async layers per message than connect-node.
 * - `"node-http2"`: gRPC framed and read by this SDK straight on node:http2 streams
 *   (http2-grpc-transport.ts), on connect-node's HTTP/2 session manager; the shortest call path
 *   of the three on Node's HTTP/2 client.
 * - `"http2-frames"`: the same gRPC call layer on this SDK's own HTTP/2 connection
 *   (http2-frames/): frames written and read on the TCP or TLS socket directly, without Node's
 *   HTTP/2 client.
 */
export type DatabrokerTransportImplementation = "connect-node" | "grpc-js" | "node-http2" | "http2-frames";
export const DATABROKER_TRANSPORT_IMPLEMENTATIONS: readonly DatabrokerTransportImplementation[] = ["connect-node", "grpc-js", "node-http2", "http2-frames"];

export interface DatabrokerTransportOptions {
  /** Base64 of 32 bytes, as Pomerium's `shared_secret`. Checked at construction. */
  readonly sharedSecret: string;
  /** TLS settings, used for `https://` URLs only. */
  readonly tls?: DatabrokerTlsOptions;
  /** HTTP/2 keepalive ping interval; at least 5 minutes. Default 6 minutes. */
  readonly pingIntervalMs?: number;
  /** How long a ping may go unanswered before the connection is dropped. Default 20 s. */
  readonly pingTimeoutMs?: number;
  /** Extra interceptors, run after the JWT one has set its header. */
  readonly interceptors?: readonly Interceptor[];
  /** Clock for token expiry; injectable for tests. */
  readonly now?: () => number;
  /** The gRPC client underneath (see {@link DatabrokerTransportImplementation}). Default `"connect-node"`. */
  readonly implementation?: DatabrokerTransportImplementation;
  /**
   * Told once per cause when a guard that relies on a dependency's internals finds them changed
   * and falls back to a safe behaviour (transport-warnings.ts). The cache passes its logger here.
   */
  readonly onWarning?: TransportWarningListener;
}

export interface DatabrokerTransport {
  /** The URL's origin, e.g. `https://databroker:5443` (gRPC paths are absolute; a path is dropped). */
  readonly url: string;
  readonly transport: Transport;
  /**
   * Opens the HTTP/2 connection if there is none (or verifies an old one with a PING).
   * Rejects with the connection's error (a ConnectError, usually Unavailable).
   */
  connect(): Promise<void>;
  /** Drops the current HTTP/2 connection; the next call opens a new one. */
  resetConnection(): void;
  /**
   * Refuses new calls at once, then closes the connection as soon as the streams still open
   * (already cancelled by their callers) have finished, or after {@link CLOSE_STREAMS_TIMEOUT_MS}.
   * Resolves when the connection is closed. Idempotent.
   */
  close(): Promise<void>;
}

const RESET_WORDING_CHANGED =
  "@connectrpc/connect-node no longer reports a stream reset (RST_STREAM) the way this SDK was tested with: a " +
  "databroker that shuts down now reads like a Clear, healed by a full resync (then failover if it is gone) instead " +
  "of resuming the stream";

/** Parses and checks a databroker URL: only `http://` (h2c) and `https://` are accepted. */
export function parseDatabrokerUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConnectError(`databroker URL is not a valid URL: ${JSON.stringify(url)}`, Code.InvalidArgument);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConnectError(`databroker URL must start with http:// or https://, got ${JSON.stringify(parsed.protocol)}`, Code.InvalidArgument);
  }
  return parsed;
}

// grpc-js arms its ping timeout as a Node timer, so a pingTimeoutMs over MAX_TIMER_DELAY_MS would
// drop the connection on every ping not answered within 1 ms. (A longer ping interval is
// harmless: both clients cap it.)
export { MAX_TIMER_DELAY_MS };

/** Checks the keepalive settings against what Pomerium tolerates. */
export function pingSettings(options: DatabrokerTransportOptions): { pingIntervalMs: number; pingTimeoutMs: number } {
  const pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  const pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
  if (!(pingIntervalMs >= MIN_PING_INTERVAL_MS)) {
    throw new ConnectError(
      `pingIntervalMs must be at least ${MIN_PING_INTERVAL_MS} (5 minutes): Pomerium closes connections that ping more often`,
      Code.InvalidArgument,
    );
  }
  if (!(pingTimeoutMs > 0 && pingTimeoutMs <= MAX_TIMER_DELAY_MS)) {
    throw new ConnectError(`pingTimeoutMs must be a positive number of milliseconds, at most ${MAX_TIMER_DELAY_MS} (about 24.8 days)`, Code.InvalidArgument);
  }
  return { pingIntervalMs, pingTimeoutMs };
}

/** Checks the implementation option. */
export function transportImplementation(options: DatabrokerTransportOptions): DatabrokerTransportImplementation {
  const implementation = options.implementation ?? "connect-node";
  if (!DATABROKER_TRANSPORT_IMPLEMENTATIONS.includes(implementation)) {
    throw new ConnectError(`implementation must be one of ${DATABROKER_TRANSPORT_IMPLEMENTATIONS.join(", ")}, got ${JSON.stringify(implementation)}`, Code.InvalidArgument);
  }
  return implementation;
}

/**
 * Creates the transport for one URL. Throws SharedSecretError for a bad secret and
 * ConnectError(InvalidArgument) for a bad URL or bad settings, before any network activity.
 */
export function createDatabrokerTransport(url: string, options: DatabrokerTransportOptions): DatabrokerTransport {
  const key = parseSharedSecret(options.sharedSecret);
  const parsed = parseDatabrokerUrl(url);
  const { pingIntervalMs, pingTimeoutMs } = pingSettings(options);
  const nodeOptions = http2OptionsFor(parsed, options.tls);
  const implementation = transportImplementation(options);
  if (implementation === "grpc-js") {
    return createGrpcJsDatabrokerTransport({
      url: parsed,
      tls: options.tls,
      pingIntervalMs,
      pingTimeoutMs,
      interceptors: [createJwtInterceptor(key, options.now), ...(options.interceptors ?? [])],
      closeStreamsTimeoutMs: CLOSE_STREAMS_TIMEOUT_MS,
      onWarning: options.onWarning,
    });
  }
  if (implementation === "http2-frames") return createFrameDatabrokerTransport(parsed, key, pingIntervalMs, pingTimeoutMs, nodeOptions, options);
  if (implementation === "connect-node") {
    void checkConnectNodeResetWording().then((trusted) => {
      if (!trusted) warnOnce(options.onWarning, "connect-node-stream-reset", RESET_WORDING_CHANGED);
    });
  }
  const baseUrl = parsed.origin;
  const sessionManager = guardSessionErrors(
    new Http2SessionManager(
      baseUrl,
      // Pomerium's clients ping idle connections too, and its server permits it.
      { pingIntervalMs, pingTimeoutMs, pingIdleConnection: true },
      // Node counts request bytes still queued for sending against maxSessionMemory (10 MB by
      // default) and refuses the session's streams past it (ENHANCE_YOUR_CALM): a Put of ~10 MB
      // that the server answers early (RESOURCE_EXHAUSTED, over its 4 MiB limit) would hang
      // instead of failing. grpc-js lifts the limit the same way.
      {
        ...nodeOptions,
        maxSessionMemory: Number.MAX_SAFE_INTEGER,
        // Our own reader advertises the large receive window grpc-js does (see
        // FLOW_CONTROL_WINDOW_BYTES); connect-node's transport keeps HTTP/2's default.
        ...(implementation === "node-http2" ? { settings: { initialWindowSize: FLOW_CONTROL_WINDOW_BYTES } } : {}),
      },
    ),
    options.onWarning,
  );
  const gate = closeGate(
    baseUrl,
    () => sessionManager.state() === "open",
    () => sessionManager.abort(),
  );
  const interceptors = [createJwtInterceptor(key, options.now), ...(options.interceptors ?? []), gate.refuseWhenClosed];
  const transport =
    implementation === "node-http2"
      ? createHttp2GrpcTransport({ baseUrl, sessionManager, interceptors, connectionWindowBytes: FLOW_CONTROL_WINDOW_BYTES })
      : createGrpcTransport({
          baseUrl,
          // The gRPC transport always speaks HTTP/2 (it has no httpVersion option to set).
          sessionManager,
          // Never offer gzip: a connect-node server would compress every large message (slow).
          acceptCompression: [],
          interceptors,
        });
  return {
    url: baseUrl,
    transport,
    async connect() {
      gate.throwIfClosed();
      if ((await sessionManager.connect()) === "error") {
        throw ConnectError.from(sessionManager.error() ?? new Error(`cannot connect to ${baseUrl}`), Code.Unavailable);
      }
    },
    resetConnection: () => {
      // A session the peer is already shutting down is left to Node (see isSessionShuttingDown).
      if (!isSessionShuttingDown(sessionManager)) sessionManager.abort();
    },
    close: gate.close,
  };
}

/** The `"http2-frames"` implementation: our own HTTP/2 connection under the gRPC call layer. */
function createFrameDatabrokerTransport(
  url: URL,
  key: Uint8Array,
  pingIntervalMs: number,
  pingTimeoutMs: number,
  tls: ReturnType<typeof http2OptionsFor>,
  options: DatabrokerTransportOptions,
): DatabrokerTransport {
  const baseUrl = url.origin;
  const manager = new FrameConnectionManager({ url, tls, pingIntervalMs, pingTimeoutMs, windowBytes: FLOW_CONTROL_WINDOW_BYTES });
  const gate = closeGate(
    baseUrl,
    () => manager.activeStreams > 0,
    () => manager.close(),
  );
  const interceptors = [createJwtInterceptor(key, options.now), ...(options.interceptors ?? []), gate.refuseWhenClosed];
  return {
    url: baseUrl,
    transport: createFrameGrpcTransport({ baseUrl, manager, interceptors }),
    async connect() {
      gate.throwIfClosed();
      await manager.connect();
    },
    resetConnection: () => manager.reset(),
    close: gate.close,
  };
}

/**
 * close() for a transport on one HTTP/2 connection: calls are refused from the moment it is called
 * (`refuseWhenClosed`, an interceptor that runs innermost, right before the request is sent: the
 * JWT is signed asynchronously, and a call that started before close() must not open a new
 * connection after it, which nothing would ever close); the connection closes as soon as no
 * stream is open (`busy` false: the callers cancelled theirs), or after
 * {@link CLOSE_STREAMS_TIMEOUT_MS}.
 */
function closeGate(baseUrl: string, busy: () => boolean, closeNow: () => void): { readonly refuseWhenClosed: Interceptor; throwIfClosed(): void; close(): Promise<void> } {
  let closed = false;
  let closing: Promise<void> | undefined;
  const throwIfClosed = (): void => {
    if (closed) throw new ConnectError(`databroker transport for ${baseUrl} is closed`, Code.Canceled);
  };
  return {
    refuseWhenClosed: (next) => async (req) => {
      throwIfClosed();
      return next(req);
    },
    throwIfClosed,
    close() {
      closed = true;
      closing ??= new Promise<void>((resolve) => {
        const deadline = Date.now() + CLOSE_STREAMS_TIMEOUT_MS;
        const closeWhenQuiet = () => {
          if (busy() && Date.now() < deadline) {
            setTimeout(closeWhenQuiet, CLOSE_POLL_MS);
            return;
          }
          closeNow();
          resolve();
        };
        closeWhenQuiet();
      });
      return closing;
    },
  };
}
