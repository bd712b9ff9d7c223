import { describe, expect, it } from "vitest";
import { grpcJsChannelSettings } from "../../src/transport/grpc-js-channel-settings.js";
import { connectErrorFromStatus } from "../../src/transport/grpc-js-metadata.js";
import { isConnectionFailure, isStreamReset } from "../../src/transport/connection-errors.js";
import { Code } from "@connectrpc/connect";
import { Metadata, status } from "@grpc/grpc-js";

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
