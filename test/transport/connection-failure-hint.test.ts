/**
 * connectionFailureHint over real sockets, for both transport implementations: each wrong
 * address (an HTTP/1 server, a plaintext port reached with https://, a TLS port reached with
 * http://, a refused port, a host name that does not resolve, a certificate from another CA or
 * for another name) gets the hint that says what to change; an answer from a databroker gets
 * none. Then the same hint in the cache's state (`lastError`).
 */
import { randomBytes } from "node:crypto";
import { createServer as createHttp1Server, type Server as Http1Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabrokerCache } from "../../src/index.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { connectionFailureHint, connectionFailureKind, type ConnectionFailureKind } from "../../src/transport/connection-failure-hint.js";
import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import {
  DATABROKER_TRANSPORT_IMPLEMENTATIONS,
  createDatabrokerTransport,
  type DatabrokerTransport,
  type DatabrokerTransportImplementation,
} from "../../src/transport/databroker-transport.js";
import type { DatabrokerTlsOptions } from "../../src/transport/tls-options.js";
import { until } from "../support/wait-until.js";
import { makeTestCertificates, type TestCertificates } from "./test-certificates.js";

const SECRET = randomBytes(32).toString("base64");
let certs: TestCertificates;
let databroker: RunningInMemoryDatabroker;
let http1: Http1Server;
let tls: TlsServer;
let http1Port = 0;
let tlsPort = 0;
let closedPort = 0;

function listen(server: Http1Server | TlsServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

beforeAll(async () => {
  certs = makeTestCertificates({ dns: ["databroker.internal"], ips: ["127.0.0.1"] });
  databroker = await startInMemoryDatabroker({ sharedSecret: SECRET });
  // An ordinary web server: it answers the HTTP/2 preface with an HTTP/1.1 error.
  http1 = createHttp1Server((_req, res) => res.end("hello"));
  http1Port = await listen(http1);
  // A TLS port (HTTP/2 by ALPN) that ends every connection after the handshake.
  tls = createTlsServer({ cert: certs.serverCert, key: certs.serverKey, ALPNProtocols: ["h2"] }, (socket) => socket.destroy());
  tls.on("tlsClientError", () => {});
  tlsPort = await listen(tls);
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  await new Promise((resolve) => http1.close(resolve));
  await new Promise((resolve) => tls.close(resolve));
  await databroker.close();
});

/**
 * The errors of one ServerInfo call to `url` and of connect() (what the cache's sync loop
 * awaits before a stream), each on a fresh transport.
 */
async function failuresAt(
  url: string,
  implementation: DatabrokerTransportImplementation,
  tlsOptions?: DatabrokerTlsOptions,
): Promise<{ call: ConnectError | "answered"; connect: ConnectError | "connected" }> {
  const attempt = async (what: (transport: DatabrokerTransport) => Promise<unknown>): Promise<ConnectError | undefined> => {
    const transport = createDatabrokerTransport(url, { sharedSecret: SECRET, implementation, ...(tlsOptions ? { tls: tlsOptions } : {}) });
    try {
      await what(transport);
    } catch (error) {
      return ConnectError.from(error);
    } finally {
      await transport.close();
    }
    return undefined;
  };
  return {
    call: (await attempt((t) => createDataBrokerClient(t.transport).serverInfo({}, { timeoutMs: 10_000 }))) ?? "answered",
    connect: (await attempt((t) => t.connect())) ?? "connected",
  };
}

interface Case {
  readonly name: string;
  readonly url: () => string;
  readonly tls?: () => DatabrokerTlsOptions;
  /** Per implementation where they differ (see ConnectionFailureKind). */
  readonly kind: Record<DatabrokerTransportImplementation, ConnectionFailureKind>;
  /**
   * connect-node's connect() resolves once the socket is open, before anything is read from it
   * (so also with the "node-http2" transport, on connect-node's session manager): a peer that is
   * not an HTTP/2 server is noticed by the first call, not by connect().
   */
  readonly connectNodeConnects?: true;
  /** What the hint must say to change. */
  readonly says: RegExp;
}

const CASES: Case[] = [
  {
    name: "an HTTP/1 server reached with http://",
    url: () => `http://127.0.0.1:${http1Port}`,
    kind: { "connect-node": "not-http2", "grpc-js": "not-http2", "node-http2": "not-http2", "http2-frames": "not-http2" },
    connectNodeConnects: true,
    says: /did not answer in HTTP\/2 .*point the URL at the databroker's gRPC port/,
  },
  {
    name: "a plaintext (h2c) databroker reached with https://",
    url: () => databroker.url.replace("http://", "https://"),
    kind: { "connect-node": "not-tls", "grpc-js": "not-tls", "node-http2": "not-tls", "http2-frames": "not-tls" },
    says: /does not speak TLS on that port: use http:\/\//,
  },
  {
    name: "a TLS port reached with http://",
    url: () => `http://127.0.0.1:${tlsPort}`,
    // connect-node sees only its stream cancelled when the peer hangs up; grpc-js sees the
    // connection close before the server's HTTP/2 settings, our own HTTP/2 the TLS alert instead.
    kind: { "connect-node": "stream-reset", "grpc-js": "closed-before-http2", "node-http2": "stream-reset", "http2-frames": "closed-before-http2" },
    connectNodeConnects: true,
    says: /expects TLS.*https:\/\//,
  },
  {
    name: "a port nothing listens on",
    url: () => `http://127.0.0.1:${closedPort}`,
    kind: { "connect-node": "refused", "grpc-js": "refused", "node-http2": "refused", "http2-frames": "refused" },
    says: /nothing listens on that host and port .*check the URL's port/,
  },
  {
    name: "a host name that does not resolve",
    // .invalid never resolves (RFC 6761).
    url: () => "http://databroker.invalid:5443",
    kind: { "connect-node": "unresolved-host", "grpc-js": "unresolved-host", "node-http2": "unresolved-host", "http2-frames": "unresolved-host" },
    says: /host name does not resolve/,
  },
  {
    name: "a certificate from a CA not trusted",
    url: () => `https://127.0.0.1:${tlsPort}`,
    tls: () => ({ ca: certs.otherCaCert }),
    kind: { "connect-node": "untrusted-certificate", "grpc-js": "untrusted-certificate", "node-http2": "untrusted-certificate", "http2-frames": "untrusted-certificate" },
    says: /not issued by a trusted CA: trust the CA that issued it/,
  },
  {
    name: "a certificate for another name",
    url: () => `https://127.0.0.1:${tlsPort}`,
    tls: () => ({ ca: certs.caCert, serverName: "other.internal" }),
    kind: { "connect-node": "certificate-name-mismatch", "grpc-js": "certificate-name-mismatch", "node-http2": "certificate-name-mismatch", "http2-frames": "certificate-name-mismatch" },
    says: /does not name the host connected to: .*set the expected server name/,
  },
];

describe.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("connectionFailureHint (%s)", (implementation) => {
  it.each(CASES)("$name", async (c) => {
    const url = c.url();
    const failures = await failuresAt(url, implementation, c.tls?.());
    const kind = c.kind[implementation];
    // grpc-js and our own HTTP/2 wait for the server's settings before a connection counts as open.
    const connects = (implementation === "connect-node" || implementation === "node-http2") && c.connectNodeConnects === true;
    expect(failures.connect === "connected", "connect() resolved").toBe(connects);
    for (const [via, error] of Object.entries(failures)) {
      if (error === "connected") continue;
      expect(error, via).toBeInstanceOf(ConnectError);
      if (!(error instanceof ConnectError)) continue;
      expect(connectionFailureKind(error), `kind of ${via}: ${JSON.stringify(error.rawMessage)}`).toBe(kind);
      const hint = connectionFailureHint(error, url);
      expect(hint, via).toMatch(c.says);
      // One line, none of the raw text it replaces.
      expect(hint, via).not.toMatch(/\n|ssl3_get_record|Protocol error|Last error/);
    }
  });

  it("gives no hint for an answer from the databroker (a wrong shared secret)", async () => {
    const transport = createDatabrokerTransport(databroker.url, { sharedSecret: randomBytes(32).toString("base64"), implementation });
    try {
      const error = await createDataBrokerClient(transport.transport).serverInfo({}).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error?.code).toBe(Code.Unauthenticated);
      expect(connectionFailureHint(error, databroker.url)).toBeUndefined();
    } finally {
      await transport.close();
    }
  });
});

describe("connectionFailureHint on statuses a server sent", () => {
  it("leaves a databroker's own UNAVAILABLE alone even when it mentions a refused connection", () => {
    // What a databroker whose storage is down answers: its words, not our connection's failure.
    const answer = new ConnectError("dial tcp 10.0.0.5:5432: connect: connection refused (ECONNREFUSED)", Code.Unavailable);
    expect(connectionFailureHint(answer)).toBeUndefined();
  });

  it("names both causes of a stream reset for an http:// URL (or none), only the shutdown for https://", () => {
    const reset = new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);
    expect(connectionFailureHint(reset)).toMatch(/shutting down or restarting, or, if it never answers, that port expects TLS/);
    expect(connectionFailureHint(reset, "http://databroker:5443")).toMatch(/expects TLS/);
    expect(connectionFailureHint(reset, "https://databroker:5443")).not.toMatch(/TLS/);
  });
});

describe("a connection reset before any answer (grpc-js: read ECONNRESET)", () => {
  it("names both causes for an http:// URL (a stopping databroker, or a TLS port), only the shutdown for https://", () => {
    // grpc-js reports a TLS port reached with http:// this way when the reset comes after it
    // counted the connection as open; the CLI must still say to use https://.
    const reset = new ConnectError("read ECONNRESET", Code.Internal);
    expect(connectionFailureKind(reset)).toBe("connection-reset");
    expect(connectionFailureHint(reset, "http://databroker:5443")).toMatch(/shutting down or restarting, or, if it never answers, that port expects TLS \(use https:\/\/\)/);
    expect(connectionFailureHint(reset, "https://databroker:5443")).not.toMatch(/TLS/);
  });
});

describe("the cache's state names the connection failure", () => {
  it.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("an HTTP/1 server as the URL (%s): lastError says to point the URL at the gRPC port", async (transport) => {
    const cache = createDatabrokerCache({
      url: `http://127.0.0.1:${http1Port}`,
      sharedSecret: SECRET,
      types: [SESSION_TYPE],
      transport,
      retry: { initialDelayMs: 20, maxDelayMs: 200 },
    });
    try {
      await until(() => cache.state.streams.some((s) => s.lastError !== undefined), "a stream error in the cache's state", 10_000);
      const lastError = cache.state.streams[0]!.lastError!;
      expect(lastError).toMatch(/did not answer in HTTP\/2 .*point the URL at the databroker's gRPC port/);
      expect(lastError).not.toContain("Protocol error");
    } finally {
      await cache.close();
    }
  });
});
