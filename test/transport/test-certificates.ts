/**
 * A throwaway CA, a server certificate and a client certificate, made with the openssl CLI
 * (Node cannot create X.509 certificates itself). Written to a temporary directory.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificates {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A second, unrelated CA: certificates from it must not be trusted. */
  readonly otherCaCert: string;
}

export function makeTestCertificates(serverNames: { dns: string[]; ips: string[] }): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "databroker-tls-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  try {
    const makeCa = (name: string) =>
      openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.crt`);
    makeCa("ca");
    makeCa("other-ca");
    const san = [...serverNames.dns.map((d) => `DNS:${d}`), ...serverNames.ips.map((i) => `IP:${i}`)].join(",");
    writeFileSync(join(dir, "server.ext"), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
    writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    const issue = (name: string) => {
      openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${name}`,
        "-keyout", `${name}.key`, "-out", `${name}.csr`);
      openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.crt`);
    };
    issue("server");
    issue("client");
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return {
      caCert: read("ca.crt"),
      serverCert: read("server.crt"),
      serverKey: read("server.key"),
      clientCert: read("client.crt"),
      clientKey: read("client.key"),
      otherCaCert: read("other-ca.crt"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
