import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import {
  DATABROKER_TRANSPORT_IMPLEMENTATIONS,
  createDatabrokerTransport,
  type DatabrokerTransport,
  type DatabrokerTransportImplementation,
} from "../../src/transport/databroker-transport.js";
import { isConnectionFailure } from "../../src/transport/connection-errors.js";
import { effectiveServerName, type DatabrokerTlsOptions } from "../../src/transport/tls-options.js";
import { startRecordingServer, type RecordingServer } from "./recording-databroker.js";
import { makeTestCertificates, type TestCertificates } from "./test-certificates.js";

const SECRET = randomBytes(32).toString("base64");

let certs: TestCertificates;
let server: RecordingServer;
let mtlsServer: RecordingServer;
const transports: DatabrokerTransport[] = [];

beforeAll(async () => {
  certs = makeTestCertificates({ dns: ["databroker.internal", "*.wild.internal"], ips: ["127.0.0.2"] });
  server = await startRecordingServer({ cert: certs.serverCert, key: certs.serverKey });
  mtlsServer = await startRecordingServer({ cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert, requireClientCert: true });
});
afterAll(async () => {
  await server.close();
  await mtlsServer.close();
});
afterEach(() => {
  for (const t of transports.splice(0)) t.close();
});


async function failureOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("the call succeeded but was expected to fail");
}

describe.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("databroker transport over TLS (%s)", (implementation: DatabrokerTransportImplementation) => {
  async function callWith(target: RecordingServer, tls: DatabrokerTlsOptions | undefined) {
    const transport = createDatabrokerTransport(target.url, { sharedSecret: SECRET, tls, implementation });
    transports.push(transport);
    return createClient(DataBrokerService, transport.transport).serverInfo({});
  }

  it("connects to 127.0.0.1 with our CA and a server-name override, sending that name as SNI", async () => {
    const res = await callWith(server, { ca: certs.caCert, serverName: "databroker.internal" });
    expect(res.latestRecordVersion).toBe(3n);
    expect(server.serverNames.at(-1)).toBe("databroker.internal");
    expect(server.calls.at(-1)!.headers.get("jwt")).toBeTruthy();
  });

  it("replaces * in the server name with example, as Pomerium does, and the wildcard SAN matches", async () => {
    expect(effectiveServerName("127.0.0.1", "*.wild.internal")).toBe("example.wild.internal");
    expect(effectiveServerName("*.host", undefined)).toBe("example.host");
    await callWith(server, { ca: certs.caCert, serverName: "*.wild.internal" });
    expect(server.serverNames.at(-1)).toBe("example.wild.internal");
  });

  it("verifies certificates by default: without our CA the server is not trusted", async () => {
    const error = await failureOf(callWith(server, { serverName: "databroker.internal" }));
    expect(isConnectionFailure(error)).toBe(true);
    expect(error.message).toMatch(/certificate|issuer/i);
  });

  it("connect() rejects as a connection failure naming the certificate problem", async () => {
    const transport = createDatabrokerTransport(server.url, { sharedSecret: SECRET, tls: { serverName: "databroker.internal" }, implementation });
    transports.push(transport);
    const error = await failureOf(transport.connect());
    expect(isConnectionFailure(error)).toBe(true);
    expect(error.message).toMatch(/certificate|issuer/i);
  });

  it("does not trust a certificate from a different CA", async () => {
    const error = await failureOf(callWith(server, { ca: certs.otherCaCert, serverName: "databroker.internal" }));
    expect(isConnectionFailure(error)).toBe(true);
  });

  it("checks the certificate against the server name: a name the certificate lacks is refused", async () => {
    const error = await failureOf(callWith(server, { ca: certs.caCert, serverName: "someone-else.internal" }));
    expect(isConnectionFailure(error)).toBe(true);
    expect(error.message).toMatch(/altnames|does not match|not in the cert/i);
  });

  it("checks the URL host when there is no override (127.0.0.1 is not in the certificate)", async () => {
    const error = await failureOf(callWith(server, { ca: certs.caCert }));
    expect(isConnectionFailure(error)).toBe(true);
  });

  it("checks an IP address override against the certificate's IP SANs without sending it as SNI", async () => {
    // The server listens on 127.0.0.1; the certificate names only 127.0.0.2.
    const error = await failureOf(callWith(server, { ca: certs.caCert, serverName: "127.0.0.3" }));
    expect(isConnectionFailure(error)).toBe(true);
    await callWith(server, { ca: certs.caCert, serverName: "127.0.0.2" });
    // RFC 6066: no IP address in SNI (grpc-js would send it; our channel settings leave it out).
    expect(server.serverNames.at(-1)).toBe(false);
  });

  it("presents a client certificate when given one, and a server that requires one refuses us without it", async () => {
    const ok = await callWith(mtlsServer, { ca: certs.caCert, serverName: "databroker.internal", cert: certs.clientCert, key: certs.clientKey });
    expect(ok.serverVersion).toBe(2n ** 64n - 1n);
    expect(mtlsServer.clientAuthorized.at(-1)).toBe(true);
    const error = await failureOf(callWith(mtlsServer, { ca: certs.caCert, serverName: "databroker.internal" }));
    expect([Code.Unavailable, Code.Internal, Code.Aborted, Code.Canceled]).toContain(error.code);
  });
});
