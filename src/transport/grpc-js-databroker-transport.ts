/**
 * The DatabrokerTransport contract (connect, resetConnection, close) over a @grpc/grpc-js
 * channel. One channel (one HTTP/2 connection) at a time: resetConnection() drops it and fails
 * the calls still on it, the next call opens a new one; close() refuses new calls at once and
 * closes the channel once the open calls have finished (or after a timeout).
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Channel } from "@grpc/grpc-js";
import { grpcJs } from "./grpc-js-module.js";
import type { DatabrokerTransport } from "./databroker-transport.js";
import { grpcJsChannelSettings } from "./grpc-js-channel-settings.js";
import { withoutEmptyNote } from "./grpc-js-metadata.js";
import { createGrpcJsTransport, type OpenGrpcJsCall } from "./grpc-js-transport.js";
import type { DatabrokerTlsOptions } from "./tls-options.js";
import type { TransportWarningListener } from "./transport-warnings.js";

export interface GrpcJsDatabrokerTransportSettings {
  /** Already checked by parseDatabrokerUrl. */
  readonly url: URL;
  readonly tls?: DatabrokerTlsOptions;
  /** Already checked by pingSettings. */
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  /** The JWT interceptor first, then the caller's. */
  readonly interceptors: readonly Interceptor[];
  /** How long close() waits for open calls before cancelling them. */
  readonly closeStreamsTimeoutMs: number;
  /** Told once when a guard finds grpc-js's internals changed (see transport-warnings.ts). */
  readonly onWarning?: TransportWarningListener;
}

const CLOSE_POLL_MS = 5;
/** A method no databroker serves: only ever used while the channel has no connection. */
const PROBE_METHOD = "/pomerium.sdk.ConnectionProbe/Probe";

/**
 * Why a channel in TRANSIENT_FAILURE could not connect (e.g. "connect ECONNREFUSED ..." or a
 * certificate error), which grpc-js only reveals by failing a call: a call started now fails
 * at once, locally, with that error, and nothing is sent. (Should the channel reconnect in the
 * meantime, the server answers the unknown method with UNIMPLEMENTED and no reason is given.)
 */
function lastConnectionError(channel: Channel): Promise<string | undefined> {
  const { Metadata, status: GrpcStatus } = grpcJs();
  return new Promise((resolve) => {
    const call = channel.createCall(PROBE_METHOD, Date.now() + 5000, null, null, null);
    call.start(new Metadata(), {
      onReceiveMetadata: () => undefined,
      onReceiveMessage: () => undefined,
      onReceiveStatus: (status) => resolve(status.code === GrpcStatus.UNAVAILABLE ? withoutEmptyNote(status.details) : undefined),
    });
    call.halfClose();
  });
}

export function createGrpcJsDatabrokerTransport(settings: GrpcJsDatabrokerTransportSettings): DatabrokerTransport {
  const baseUrl = settings.url.origin;
  const { target, credentials, options } = grpcJsChannelSettings(settings.url, settings.tls, settings, settings.onWarning);
  const openCalls = new Set<OpenGrpcJsCall>();
  let channel: Channel | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;

  const closedError = () => new ConnectError(`databroker transport for ${baseUrl} is closed`, Code.Canceled);
  const currentChannel = (): Channel => {
    if (closed) throw closedError();
    channel ??= new (grpcJs().Channel)(target, credentials, options);
    return channel;
  };
  /** Closes the channel after failing the calls still on it. */
  const dropChannel = (error: () => ConnectError) => {
    const dropped = channel;
    channel = undefined;
    if (dropped === undefined) return;
    for (const call of [...openCalls]) if (call.channel === dropped) call.fail(error());
    dropped.close();
  };
  // After close(), refuse calls instead of quietly opening a new connection. Innermost, as in
  // the connect-node transport: the JWT is signed asynchronously, and a call that started
  // before close() must not open a new connection after it.
  const refuseWhenClosed: Interceptor = (next) => async (req) => {
    if (closed) throw closedError();
    return next(req);
  };
  const transport = createGrpcJsTransport({
    baseUrl,
    channel: currentChannel,
    interceptors: [...settings.interceptors, refuseWhenClosed],
    openCalls,
  });

  return {
    url: baseUrl,
    transport,
    connect() {
      let target: Channel;
      try {
        target = currentChannel();
      } catch (e) {
        return Promise.reject(ConnectError.from(e));
      }
      const { connectivityState } = grpcJs();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          const state = target.getConnectivityState(true);
          switch (state) {
            case connectivityState.READY:
              resolve();
              return;
            case connectivityState.TRANSIENT_FAILURE:
              lastConnectionError(target).then(
                (why) => reject(new ConnectError(`cannot connect to ${baseUrl}${why === undefined ? "" : `: ${why}`}`, Code.Unavailable)),
                () => reject(new ConnectError(`cannot connect to ${baseUrl}`, Code.Unavailable)),
              );
              return;
            case connectivityState.SHUTDOWN:
              reject(closed ? closedError() : new ConnectError(`connection to ${baseUrl} was reset`, Code.Unavailable));
              return;
            default:
              // IDLE or CONNECTING: wait for the next state. No deadline: the caller has its own
              // timeout, and closing the channel ends the wait (SHUTDOWN).
              target.watchConnectivityState(state, Infinity, check);
          }
        };
        check();
      });
    },
    resetConnection() {
      // connect-node's error for the streams of an aborted connection: not a connection failure
      // of their own, so the other streams on it do not each fail over again.
      dropChannel(() => new ConnectError("connection aborted", Code.Canceled));
    },
    close() {
      closed = true;
      closing ??= new Promise<void>((resolve) => {
        const deadline = Date.now() + settings.closeStreamsTimeoutMs;
        const closeWhenQuiet = () => {
          if (openCalls.size > 0 && Date.now() < deadline) {
            setTimeout(closeWhenQuiet, CLOSE_POLL_MS);
            return;
          }
          dropChannel(closedError);
          resolve();
        };
        closeWhenQuiet();
      });
      return closing;
    },
  };
}
