/**
 * The @grpc/grpc-js channel for one databroker URL, configured like the connect-node transport:
 * h2c for `http://`, TLS with the same DatabrokerTlsOptions for `https://` (verification always
 * on), keepalive pings Pomerium accepts, no compression sent, no message size limit, and no
 * connection shared with other channels (so dropping or closing ours really closes it).
 */
import { isIP } from "node:net";
import { createSecureContext } from "node:tls";
import type { ChannelCredentials, ChannelOptions } from "@grpc/grpc-js";
import { grpcJs } from "./grpc-js-module.js";
import { FLOW_CONTROL_WINDOW_BYTES } from "./flow-control-window.js";
import { effectiveServerName, http2OptionsFor, type DatabrokerTlsOptions } from "./tls-options.js";
import { warnOnce, type TransportWarningListener } from "./transport-warnings.js";

export interface GrpcJsChannelSettings {
  /** grpc-js target, `host:port` (IPv6 in brackets). */
  readonly target: string;
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
}

/**
 * grpc-js's own reconnect backoff. The sync loop has its own (and resets the connection after
 * a failure), so grpc-js only needs to avoid a tight loop of its own. The initial value is
 * grpc-js's default; the cap keeps a channel from waiting minutes after a server came back.
 */
const INITIAL_RECONNECT_BACKOFF_MS = 1000;
const MAX_RECONNECT_BACKOFF_MS = 10_000;

export function grpcJsChannelSettings(
  url: URL,
  tls: DatabrokerTlsOptions | undefined,
  ping: { pingIntervalMs: number; pingTimeoutMs: number },
  onWarning?: TransportWarningListener,
): GrpcJsChannelSettings {
  const port = url.port !== "" ? url.port : url.protocol === "https:" ? "443" : "80";
  const options: ChannelOptions = {
    "grpc.keepalive_time_ms": ping.pingIntervalMs,
    "grpc.keepalive_timeout_ms": ping.pingTimeoutMs,
    // Pomerium's clients ping idle connections too, and its server permits it (every >= 5 min).
    // grpc-js has no max-pings-without-data limit (a C-core option it ignores): it pings
    // exactly every keepalive_time_ms, never more often.
    "grpc.keepalive_permit_without_calls": 1,
    // Never compress what we send. (grpc-js still advertises grpc-accept-encoding
    // "identity,deflate,gzip" on every call; it cannot be turned off. grpc-go servers, i.e.
    // Pomerium, only compress when the request was compressed, and ours never compresses.)
    "grpc.default_compression_algorithm": 0,
    // Databroker records can be large; connect-node has no practical limit either.
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
    // One connection per channel, so resetConnection()/close() drop exactly ours.
    "grpc.use_local_subchannel_pool": 1,
    // No retry layer: every call is tried once, the sync loop decides what to retry.
    "grpc.enable_retries": 0,
    "grpc.initial_reconnect_backoff_ms": INITIAL_RECONNECT_BACKOFF_MS,
    "grpc.max_reconnect_backoff_ms": MAX_RECONNECT_BACKOFF_MS,
    // No service-config lookups through DNS TXT records.
    "grpc.service_config_disable_resolution": 1,
    "grpc.enable_http_proxy": 0,
    // The large receive window (flow-control-window.ts; Go's client grows its window by
    // bandwidth-delay estimation instead); grpc-js applies it to the streams and the connection
    // alike.
    "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW_BYTES,
  };
  const target = `${url.hostname}:${port}`;
  if (url.protocol !== "https:") return { target, credentials: grpcJs().credentials.createInsecure(), options };

  // The same validation and the same trusted roots, client certificate and TLS floor as the
  // connect-node transport.
  const nodeOptions = http2OptionsFor(url, tls);
  const secureContext = createSecureContext({
    ca: nodeOptions.ca,
    cert: nodeOptions.cert,
    key: nodeOptions.key,
    minVersion: nodeOptions.minVersion,
  });
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const name = effectiveServerName(host, tls?.serverName);
  // grpc-js uses the override both as SNI and as the name the certificate is checked against.
  options["grpc.ssl_target_name_override"] = name;
  options["grpc.default_authority"] = url.host;
  const channelCredentials = grpcJs().credentials.createFromSecureContext(secureContext, { rejectUnauthorized: true });
  if (isIP(name) === 0) return { target, credentials: channelCredentials, options };
  return { target, credentials: withoutIpServerName(channelCredentials, target, options, name, onWarning), options };
}

type CreateSecureConnector = (this: ChannelCredentials, ...args: unknown[]) => unknown;

/** What grpc-js 1.14's secure connector holds: the options it later hands to tls.connect. */
interface SecureConnector {
  readonly connect: unknown;
  readonly connectionOptions: { servername?: unknown };
}

function isSecureConnector(value: unknown): value is SecureConnector {
  const connector = value as Partial<SecureConnector> | null;
  return (
    typeof connector === "object" &&
    connector !== null &&
    typeof connector.connect === "function" &&
    typeof connector.connectionOptions === "object" &&
    connector.connectionOptions !== null
  );
}

/**
 * SNI must not carry an IP address (RFC 6066; Node warns with DEP0123 when asked to), and grpc-js
 * always sends its target name (grpc/grpc-node#1919, open at 1.14.7; a fix there would remove
 * this hook). For an IP the certificate is still checked against the IP's SANs
 * (checkServerIdentity with the override); only the SNI extension is left out, as the
 * connect-node transport does.
 *
 * This replaces the credentials' `_createSecureConnector(target, options, callCredentials)`, an
 * internal of grpc-js, so it first checks that the method is what grpc-js 1.14 has: three
 * parameters, and a probe call (it only builds an object) returning a connector whose
 * `connectionOptions.servername` is the IP. When it is not, the credentials are left alone and
 * the transport warns once: the only effect is Node's DEP0123 warning coming back.
 */
function withoutIpServerName(
  channelCredentials: ChannelCredentials,
  target: string,
  options: ChannelOptions,
  ip: string,
  onWarning: TransportWarningListener | undefined,
): ChannelCredentials {
  const internal = channelCredentials as unknown as { _createSecureConnector?: unknown };
  const create = internal._createSecureConnector;
  if (typeof create !== "function" || create.length !== 3 || !probeSetsServerName(create as CreateSecureConnector, channelCredentials, target, options, ip)) {
    warnOnce(
      onWarning,
      "grpc-js-ip-server-name",
      "@grpc/grpc-js's secure connector is not what this SDK was tested with: for a databroker addressed by IP, the " +
        "TLS server name (SNI) now carries the IP address, and Node prints its DEP0123 deprecation warning once",
    );
    return channelCredentials;
  }
  internal._createSecureConnector = function createWithoutIpServerName(this: unknown, ...args: unknown[]) {
    const connector = (create as CreateSecureConnector).apply(channelCredentials, args);
    if (isSecureConnector(connector)) delete connector.connectionOptions.servername;
    return connector;
  };
  return channelCredentials;
}

/** Asks the method for a connector to `target` and checks it would send `ip` as the server name. */
function probeSetsServerName(create: CreateSecureConnector, channelCredentials: ChannelCredentials, target: string, options: ChannelOptions, ip: string): boolean {
  try {
    const connector = create.call(channelCredentials, { scheme: "dns", path: target }, options);
    const ok = isSecureConnector(connector) && connector.connectionOptions.servername === ip;
    (connector as { destroy?: () => void } | undefined)?.destroy?.();
    return ok;
  } catch {
    return false;
  }
}

