/**
 * TLS settings for `https://` databroker URLs, shaped like Pomerium's own client settings
 * (spec section 11): trusted roots are the system roots plus an optional extra CA, the
 * server name used for SNI and for the certificate check can be overridden, and a client
 * certificate can be presented. Verification is always on: Pomerium offers no skip option
 * for internal databroker connections, and neither do we.
 */
import { isIP } from "node:net";
import { checkServerIdentity, rootCertificates } from "node:tls";
import type { SecureClientSessionOptions } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

export interface DatabrokerTlsOptions {
  /** Extra trusted CA certificate(s), PEM. Added to the system roots, not replacing them. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /**
   * The name used for SNI and checked against the server certificate (Pomerium's
   * `override_certificate_name`). Any `*` is replaced with `example`, as Pomerium does.
   */
  readonly serverName?: string;
  /** Client certificate chain, PEM (mutual TLS). Requires `key`. */
  readonly cert?: string | Buffer;
  /** Client private key, PEM (mutual TLS). Requires `cert`. */
  readonly key?: string | Buffer;
}

/** Pomerium's rule: a `*` in the name (e.g. a wildcard override) becomes `example`. */
export function effectiveServerName(urlHost: string, override: string | undefined): string {
  const name = override !== undefined && override !== "" ? override : urlHost;
  return name.replaceAll("*", "example");
}

/** Strips IPv6 brackets from a URL hostname. */
function bareHost(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Builds the node:http2 connect options for one URL. Plain `http://` (h2c) gets no TLS
 * options at all; a client certificate or CA given for it is ignored.
 */
export function http2OptionsFor(url: URL, tls: DatabrokerTlsOptions | undefined): SecureClientSessionOptions {
  if (url.protocol !== "https:") return {};
  if ((tls?.cert === undefined) !== (tls?.key === undefined)) {
    throw new ConnectError("tls.cert and tls.key must be given together (client certificate)", Code.InvalidArgument);
  }
  const extraCa = tls?.ca === undefined ? [] : Array.isArray(tls.ca) ? [...tls.ca] : [tls.ca as string | Buffer];
  const name = effectiveServerName(bareHost(url), tls?.serverName);
  const options: SecureClientSessionOptions = { rejectUnauthorized: true, minVersion: "TLSv1.2" };
  if (isIP(name) === 0) {
    // Node checks the certificate against the SNI name.
    options.servername = name;
  } else {
    // SNI cannot carry an IP address (RFC 6066): send none, but check the certificate's IP SAN.
    options.checkServerIdentity = (_host, cert) => checkServerIdentity(name, cert);
  }
  if (extraCa.length > 0) options.ca = [...rootCertificates, ...extraCa];
  if (tls?.cert !== undefined && tls.key !== undefined) {
    options.cert = tls.cert;
    options.key = tls.key;
  }
  return options;
}
