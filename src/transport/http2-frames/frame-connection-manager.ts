/**
 * The connection under the `"http2-frames"` transport: opens our own HTTP/2 connection
 * (frame-connection.ts) to one origin when a call needs one, keeps it checked with keepalive
 * PINGs, and opens a new one when it fails or the server sends GOAWAY.
 *
 * States (one at a time): `idle` (no connection: the next call opens one), `connecting` (every
 * call waits for the same attempt), `open` (calls use it), `closed` (close() was called: calls are
 * refused and no connection is opened again). A connection that fails or starts draining sends
 * the manager back to `idle`; one that the manager no longer holds finishes its streams on its own.
 *
 * Opening (TCP, TLS, the server's SETTINGS) must finish within `pingTimeoutMs`.
 *
 * Keepalive: every `pingIntervalMs` (Pomerium refuses pings more often than every 5 minutes), if
 * nothing arrived on the connection within the interval, a PING goes out; when its ACK has not
 * come within `pingTimeoutMs`, the connection is dropped and its streams fail as unavailable.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { FrameConnection } from "./frame-connection.js";

export interface FrameConnectionManagerOptions {
  /** The origin: `http://` (h2c) or `https://` (TLS, ALPN "h2"). */
  readonly url: URL;
  /** TLS options for `https://` (tls-options.ts); ignored for `http://`. */
  readonly tls: ConnectionOptions;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  /** The receive window of each stream and of the connection. */
  readonly windowBytes: number;
}

type ManagerState =
  | { readonly kind: "idle" }
  | { readonly kind: "connecting"; readonly attempt: Promise<FrameConnection> }
  | { readonly kind: "open"; readonly connection: FrameConnection }
  | { readonly kind: "closed" };

/** The ConnectError for a connection that could not be made or failed: Unavailable, the cause kept. */
function unavailable(error: unknown, fallback: string): ConnectError {
  if (error instanceof ConnectError) return error;
  const message = error instanceof Error ? error.message : fallback;
  return new ConnectError(message, Code.Unavailable, undefined, undefined, error);
}

export class FrameConnectionManager {
  readonly #options: FrameConnectionManagerOptions;
  #state: ManagerState = { kind: "idle" };
  /** Every connection not yet closed (the current one, and older ones still finishing streams). */
  readonly #live = new Set<FrameConnection>();

  constructor(options: FrameConnectionManagerOptions) {
    this.#options = options;
  }

  /** Streams open or waiting on every live connection. */
  get activeStreams(): number {
    let n = 0;
    for (const connection of this.#live) n += connection.activeStreams;
    return n;
  }

  /**
   * A connection that takes new streams: the current one, or a new one.
   * @throws ConnectError Unavailable when it cannot be made; Canceled after close()
   */
  async connection(): Promise<FrameConnection> {
    for (;;) {
      const state = this.#state;
      switch (state.kind) {
        case "closed":
          throw new ConnectError(`databroker transport for ${this.#options.url.origin} is closed`, Code.Canceled);
        case "open":
          if (state.connection.acceptsStreams) return state.connection;
          this.#state = { kind: "idle" };
          continue;
        case "connecting":
          return state.attempt;
        case "idle": {
          const attempt = this.#open();
          this.#state = { kind: "connecting", attempt };
          try {
            const connection = await attempt;
            if (this.#state.kind === "connecting" && this.#state.attempt === attempt) this.#state = { kind: "open", connection };
            return connection;
          } catch (error) {
            if (this.#state.kind === "connecting" && this.#state.attempt === attempt) this.#state = { kind: "idle" };
            throw error;
          }
        }
      }
    }
  }

  /**
   * Opens a connection if there is none; checks an open one with a PING (answered within the
   * ping timeout), replacing it if it does not answer.
   */
  async connect(): Promise<void> {
    const state = this.#state;
    if (state.kind === "open" && state.connection.acceptsStreams) {
      try {
        await this.#pingWithin(state.connection);
        return;
      } catch {
        if (this.#state === state) this.#state = { kind: "idle" };
        state.connection.destroy(new Error("the connection did not answer a PING"));
      }
    }
    await this.connection();
  }

  /**
   * Drops the current connection at once; the next call opens a new one. Its streams end with
   * Canceled "connection aborted" (not a connection failure of their own: the caller that reset
   * it has already seen one), as with connect-node's session manager.
   */
  reset(): void {
    const state = this.#state;
    if (state.kind !== "open") return;
    this.#state = { kind: "idle" };
    state.connection.destroy(new ConnectError("connection aborted", Code.Canceled));
  }

  /** Refuses new calls from now on; closes every connection now. */
  close(): void {
    if (this.#state.kind === "closed") return;
    this.#state = { kind: "closed" };
    for (const connection of [...this.#live]) connection.destroy(new ConnectError(`databroker transport for ${this.#options.url.origin} is closed`, Code.Canceled));
  }

  /**
   * Opens a connection: TCP, TLS with ALPN "h2" for `https://`, then the server's SETTINGS. All of
   * it must be done within the ping timeout (a peer that accepts and says nothing would otherwise
   * hold every call until the first keepalive PING, minutes later).
   */
  async #open(): Promise<FrameConnection> {
    const { url, pingTimeoutMs } = this.#options;
    let opening: Socket | TLSSocket | undefined;
    let connection: FrameConnection | undefined;
    const timer = setTimeout(() => {
      const error = Object.assign(new Error(`no HTTP/2 connection to ${url.origin} within ${pingTimeoutMs} ms (TCP, TLS and the server's settings)`), { code: "ETIMEDOUT" });
      if (connection !== undefined) connection.destroy(error);
      else opening?.destroy(error);
    }, pingTimeoutMs);
    try {
      const socket = await this.#connectSocket((s) => (opening = s));
      connection = this.#start(socket);
      // Open once the server has shown it speaks HTTP/2 (its SETTINGS): a wrong port fails here.
      await connection.ready;
      return connection;
    } catch (error) {
      throw unavailable(error, `cannot connect to ${url.origin}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A connected socket (TLS agreed on "h2" for `https://`); `opening` sees it first, for the timeout. */
  async #connectSocket(opening: (socket: Socket | TLSSocket) => void): Promise<Socket | TLSSocket> {
    const { url, tls } = this.#options;
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const secure = url.protocol === "https:";
    const port = Number(url.port === "" ? (secure ? 443 : 80) : url.port);
    const socket = await new Promise<Socket | TLSSocket>((resolve, reject) => {
      const s = secure ? tlsConnect({ ...tls, host, port, ALPNProtocols: ["h2"] }) : netConnect({ host, port });
      opening(s);
      s.setNoDelay(true);
      s.once(secure ? "secureConnect" : "connect", () => {
        s.removeListener("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    });
    if (secure && (socket as TLSSocket).alpnProtocol !== "h2") {
      socket.destroy();
      throw new ConnectError(`${url.origin} did not agree to HTTP/2 (ALPN "h2")`, Code.Unavailable);
    }
    if (this.#state.kind === "closed") {
      socket.destroy();
      throw new ConnectError(`databroker transport for ${url.origin} is closed`, Code.Canceled);
    }
    return socket;
  }

  /** Our HTTP/2 connection on `socket`, kept alive by PINGs and known to close(). */
  #start(socket: Socket | TLSSocket): FrameConnection {
    const windowBytes = this.#options.windowBytes;
    let keepalive: NodeJS.Timeout | undefined;
    const connection: FrameConnection = new FrameConnection(socket, {
      streamWindowBytes: windowBytes,
      connectionWindowBytes: windowBytes,
      onDraining: () => {
        const state = this.#state;
        if (state.kind === "open" && state.connection === connection) this.#state = { kind: "idle" };
      },
      onClose: () => {
        clearInterval(keepalive);
        this.#live.delete(connection);
      },
    });
    this.#live.add(connection);
    keepalive = setInterval(() => this.#keepalive(connection), this.#options.pingIntervalMs);
    keepalive.unref();
    return connection;
  }

  #keepalive(connection: FrameConnection): void {
    if (connection.closed) return;
    if (performance.now() - connection.lastFrameAt < this.#options.pingIntervalMs) return;
    this.#pingWithin(connection).catch((error: unknown) => {
      connection.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }

  /** A PING on `connection`, rejected when its ACK takes longer than the ping timeout. */
  #pingWithin(connection: FrameConnection): Promise<void> {
    const timeoutMs = this.#options.pingTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`keepalive PING not answered within ${timeoutMs} ms`)), timeoutMs);
      connection.ping().then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}
