/**
 * The @grpc/grpc-js channel for one databroker URL, configured like the connect-node transport:
 * h2c for `http://`, TLS with the same DatabrokerTlsOptions for `https://` (verification always
 * on), keepalive pings Pomerium accepts, no compression sent, no message size limit, and no
 * connection shared with other channels (so dropping or closing ours really closes it).
 */
import { isIP } from "node:net";
import { createSecureContext } from "node:tls";
import { credentials, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { effectiveServerName, http2OptionsFor, type DatabrokerTlsOptions } from "./tls-options.js";

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
  };
  const target = `${url.hostname}:${port}`;
  if (url.protocol !== "https:") return { target, credentials: credentials.createInsecure(), options };

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
  const channelCredentials = credentials.createFromSecureContext(secureContext, { rejectUnauthorized: true });
  return { target, credentials: isIP(name) === 0 ? channelCredentials : withoutIpServerName(channelCredentials), options };
}

/**
 * SNI must not carry an IP address (RFC 6066; Node warns with DEP0123 when asked to), and grpc-js
 * always sends its target name. For an IP the certificate is still checked against the IP's
 * SANs (checkServerIdentity with the override); only the SNI extension is left out, as the
 * connect-node transport does. This reaches into grpc-js's connector (pinned exactly in
 * package.json); if its shape ever changes, the only effect is the warning coming back.
 */
function withoutIpServerName(channelCredentials: ChannelCredentials): ChannelCredentials {
  const internal = channelCredentials as unknown as { _createSecureConnector?: (...args: unknown[]) => unknown };
  const create = internal._createSecureConnector;
  if (typeof create !== "function") return channelCredentials;
  internal._createSecureConnector = (...args: unknown[]) => {
    const connector = create.apply(channelCredentials, args) as { connectionOptions?: { servername?: string } };
    if (connector.connectionOptions !== undefined) delete connector.connectionOptions.servername;
    return connector;
  };
  return channelCredentials;
}

