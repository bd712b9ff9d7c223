import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, createServer as createNetServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DemoRecords } from "../../src/demo/demo-records.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import { createDatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { makeTestCertificates } from "../transport/test-certificates.js";
import { cli } from "./cli-process.js";

const secret = randomBytes(32).toString("base64");
const dir = mkdtempSync(join(tmpdir(), "cli-tls-"));
const secretFile = join(dir, "secret");
const caFile = join(dir, "ca.pem");
const otherCaFile = join(dir, "other-ca.pem");
let server: RunningInMemoryDatabroker;
let proxy: NetServer;
let httpsUrl = "";

beforeAll(async () => {
  writeFileSync(secretFile, secret);
  const certs = makeTestCertificates({ dns: ["databroker.internal"], ips: ["127.0.0.1"] });
  writeFileSync(caFile, certs.caCert);
  writeFileSync(otherCaFile, certs.otherCaCert);
  server = await startInMemoryDatabroker({ sharedSecret: secret });
  const seed = createDatabrokerTransport(server.url, { sharedSecret: secret });
  await createDataBrokerClient(seed.transport).put({ records: [DemoRecords.record(new DemoRecords({ seed: 5 }).user(7))] });
  seed.close();
  // TLS in front of the h2c server: HTTP/2 inside TLS is the same bytes as h2c with prior knowledge.
  proxy = createTlsServer({ cert: certs.serverCert, key: certs.serverKey, ALPNProtocols: ["h2"] }, (socket) => {
    const upstream = connect(server.port, "127.0.0.1");
    socket.pipe(upstream).pipe(socket);
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  httpsUrl = `https://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => proxy.close(resolve));
  await server.close();
});

describe("https URLs with --ca-file and --server-name", () => {
  it("get works over TLS when --ca-file trusts the server's CA", async () => {
    const { code, stdout, stderr } = await cli("get", "user", "user-7", "--url", httpsUrl, "--shared-secret-file", secretFile, "--ca-file", caFile);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout).id).toBe("user-7");
  });

  it("--server-name picks the name checked on the certificate", async () => {
    const ok = await cli("get", "user", "user-7", "--url", httpsUrl, "--shared-secret-file", secretFile, "--ca-file", caFile, "--server-name", "databroker.internal");
    expect(ok.code).toBe(0);
    const wrong = await cli("get", "user", "user-7", "--url", httpsUrl, "--shared-secret-file", secretFile, "--ca-file", caFile, "--server-name", "other.internal");
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim().split("\n")).toHaveLength(1);
    expect(wrong.stderr.trim()).toBe(
      `databroker-cache: TLS to ${httpsUrl} failed: the server's certificate does not name the host connected to: use a host name it lists in --url, or give one with --server-name`,
    );
  });

  it("a server certificate from an untrusted CA is one line pointing at --ca-file", async () => {
    const { code, stderr } = await cli("query", "user", "--url", httpsUrl, "--shared-secret-file", secretFile, "--ca-file", otherCaFile);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`databroker-cache: TLS to ${httpsUrl} failed: the server's certificate is not issued by a trusted CA: give the CA that issued it with --ca-file`);
  });

  it("mirror with several URLs skips the one that is down and mirrors over TLS", async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const down = `http://127.0.0.1:${(probe.address() as { port: number }).port}`;
    await new Promise((resolve) => probe.close(resolve));
    const { code, stdout, stderr } = await cli(
      "mirror", "--url", down, "--url", httpsUrl, "--shared-secret-file", secretFile, "--ca-file", caFile,
      "--type", "user", "--duration-ms", "1200", "--interval-ms", "400",
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain(`databroker ${httpsUrl}: server version`);
    expect(stdout).toMatch(/^status .*user\.User=1 .*lag=0/m);
  });

  it("https:// to a plaintext h2c databroker says to use http://", async () => {
    const url = server.url.replace("http://", "https://");
    const { code, stderr } = await cli("get", "user", "user-7", "--url", url, "--shared-secret-file", secretFile);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      `databroker-cache: cannot reach a databroker at ${url}: the server does not speak TLS on that port: use http:// for a plaintext (h2c) databroker, or the port where it serves TLS`,
    );
  });

  it("http:// to a TLS port says it may expect TLS and to use https://", async () => {
    const url = httpsUrl.replace("https://", "http://");
    const { code, stdout, stderr } = await cli("get", "user", "user-7", "--url", url, "--shared-secret-file", secretFile);
    expect(stdout).toBe("");
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(`cannot reach a databroker at ${url}: `);
    expect(stderr).toContain("that port expects TLS (use https://)");
  });
});
