import { createSecureContext } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { grpcJsChannelSettings } from "../../src/transport/grpc-js-channel-settings.js";
import type { TransportWarningAttributes } from "../../src/transport/transport-warnings.js";
import { connectErrorFromStatus } from "../../src/transport/grpc-js-metadata.js";
import { isConnectionFailure, isStreamReset } from "../../src/transport/connection-errors.js";
import { Code } from "@connectrpc/connect";
import { credentials as grpcCredentials, Metadata, status, type ChannelCredentials } from "@grpc/grpc-js";

const ping = { pingIntervalMs: 6 * 60_000, pingTimeoutMs: 20_000 };

describe("grpc-js channel settings", () => {
  it("pings every 6 minutes with 20 s to answer, also when idle, and never compresses", () => {
    const { options } = grpcJsChannelSettings(new URL("http://databroker:5443"), undefined, ping);
    expect(options["grpc.keepalive_time_ms"]).toBe(360_000);
    expect(options["grpc.keepalive_timeout_ms"]).toBe(20_000);
    expect(options["grpc.keepalive_permit_without_calls"]).toBe(1);
    expect(options["grpc.default_compression_algorithm"]).toBe(0);
  });

  it("keeps its connection to itself (no shared subchannel pool) and leaves retries to the sync loop", () => {
    const { options } = grpcJsChannelSettings(new URL("http://databroker:5443"), undefined, ping);
    expect(options["grpc.use_local_subchannel_pool"]).toBe(1);
    expect(options["grpc.enable_retries"]).toBe(0);
    expect(options["grpc.max_receive_message_length"]).toBe(-1);
  });

  it("targets host:port with the scheme's default port, IPv6 in brackets", () => {
    expect(grpcJsChannelSettings(new URL("http://databroker"), undefined, ping).target).toBe("databroker:80");
    expect(grpcJsChannelSettings(new URL("https://[::1]"), undefined, ping).target).toBe("[::1]:443");
    expect(grpcJsChannelSettings(new URL("https://10.0.0.5:5443"), undefined, ping).target).toBe("10.0.0.5:5443");
  });

  it("checks TLS against the effective server name (override, * replaced by example), h2c has none", () => {
    const tls = grpcJsChannelSettings(new URL("https://10.0.0.5:5443"), { serverName: "*.internal" }, ping);
    expect(tls.options["grpc.ssl_target_name_override"]).toBe("example.internal");
    expect(tls.credentials._isSecure()).toBe(true);
    const plain = grpcJsChannelSettings(new URL("http://10.0.0.5:5443"), { serverName: "x.internal" }, ping);
    expect(plain.options["grpc.ssl_target_name_override"]).toBeUndefined();
    expect(plain.credentials._isSecure()).toBe(false);
  });

  it("refuses a client certificate without its key, as the connect-node transport does", () => {
    expect(() => grpcJsChannelSettings(new URL("https://a:1"), { cert: "x" }, ping)).toThrow(/cert and tls.key/);
  });
});

describe("grpc-js secure connector hook (no IP address as TLS server name)", () => {
  type Create = (...args: unknown[]) => unknown;
  interface Connector {
    connectionOptions?: { servername?: string };
    destroy?: () => void;
  }
  // The class behind every credentials object createFromSecureContext returns.
  const secureCredentialsClass = Object.getPrototypeOf(grpcCredentials.createFromSecureContext(createSecureContext())) as { _createSecureConnector: Create };
  const original = secureCredentialsClass._createSecureConnector;
  afterEach(() => {
    secureCredentialsClass._createSecureConnector = original;
  });

  function settingsFor(url: string) {
    const warnings: string[] = [];
    const onWarning = (message: string, attributes: TransportWarningAttributes) => warnings.push(`${attributes.guard}: ${message}`);
    return { warnings, settings: grpcJsChannelSettings(new URL(url), undefined, ping, onWarning) };
  }
  const isPatched = (c: ChannelCredentials) => Object.prototype.hasOwnProperty.call(c, "_createSecureConnector");
  const connectorOf = (c: ChannelCredentials, target: string, options: object) =>
    (c as unknown as { _createSecureConnector: Create })._createSecureConnector({ scheme: "dns", path: target }, options) as Connector;

  it("with grpc-js as tested: the connector for an IP sends no server name, a DNS name keeps it, nothing to warn about", () => {
    const ip = settingsFor("https://10.0.0.5:5443");
    expect(ip.warnings).toEqual([]);
    expect(isPatched(ip.settings.credentials)).toBe(true);
    const connector = connectorOf(ip.settings.credentials, ip.settings.target, ip.settings.options);
    expect(connector.connectionOptions).toBeDefined();
    expect(connector.connectionOptions!.servername).toBeUndefined();
    const dns = settingsFor("https://databroker.internal:5443");
    expect(isPatched(dns.settings.credentials)).toBe(false);
    expect(connectorOf(dns.settings.credentials, dns.settings.target, dns.settings.options).connectionOptions!.servername).toBe("databroker.internal");
  });

  it("when the method takes other parameters, leaves the credentials alone and warns once", () => {
    // Stands for a grpc-js release whose connector factory changed its signature.
    secureCredentialsClass._createSecureConnector = function changed(this: unknown, target: unknown, options: unknown) {
      return original.call(this, target, options);
    };
    const { warnings, settings } = settingsFor("https://10.0.0.5:5443");
    expect(isPatched(settings.credentials)).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^grpc-js-ip-server-name: @grpc\/grpc-js's secure connector is not what this SDK was tested with/);
  });

  it("when the connector it builds has another shape, leaves the credentials alone and warns", () => {
    // Same signature, but the TLS options now live elsewhere: deleting `servername` would do nothing.
    secureCredentialsClass._createSecureConnector = function reshaped(this: unknown, target: unknown, options: unknown, callCredentials: unknown) {
      const connector = original.call(this, target, options, callCredentials) as Connector;
      return { connect: () => undefined, destroy: () => connector.destroy?.(), tlsOptions: connector.connectionOptions };
    };
    const { warnings, settings } = settingsFor("https://10.0.0.5:5443");
    expect(isPatched(settings.credentials)).toBe(false);
    expect(warnings).toHaveLength(1);
  });
});

describe("grpc-js status to ConnectError", () => {
  const statusOf = (code: number, details: string, metadata = new Metadata()) => ({ code, details, metadata });

  it("gives a peer's RST_STREAM connect-node's wording, so it counts as a connection failure", () => {
    const cancel = connectErrorFromStatus(statusOf(status.CANCELLED, "Call cancelled"));
    expect(cancel.code).toBe(Code.Canceled);
    expect(isStreamReset(cancel)).toBe(true);
    const internal = connectErrorFromStatus(statusOf(status.INTERNAL, "Received RST_STREAM with code 2 (Internal server error)"));
    expect(internal.rawMessage).toBe("http/2 stream closed with error code INTERNAL_ERROR (0x2)");
    expect(isConnectionFailure(internal)).toBe(true);
  });

  it("keeps a server's own CANCELLED status (e.g. Pomerium's Clear) apart from a reset", () => {
    const trailers = new Metadata();
    trailers.set("x-server", "1");
    const fromServer = connectErrorFromStatus(statusOf(status.CANCELLED, "context canceled"));
    expect(fromServer.rawMessage).toBe("context canceled");
    expect(isConnectionFailure(fromServer)).toBe(false);
    expect(isConnectionFailure(connectErrorFromStatus(statusOf(status.CANCELLED, "Call cancelled", trailers)))).toBe(false);
  });

  it("reports a refused connection as Unavailable", () => {
    const refused = connectErrorFromStatus(statusOf(status.UNAVAILABLE, "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1"));
    expect(refused.code).toBe(Code.Unavailable);
    expect(isConnectionFailure(refused)).toBe(true);
  });
});
