/**
 * Assertions shaped exactly as Pomerium's headers evaluator signs them (header typ "JWT", alg,
 * kid; claims iss, aud, jti, iat, exp = iat + 5 min, sub, user, email, groups, sid, name), and a
 * JWKS endpoint on node:http that a test can rotate, slow down, take down or fill with garbage.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from "jose";
import type { webcrypto } from "node:crypto";

export const HOST = "app.example.com";

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: webcrypto.CryptoKey;
  readonly publicJwk: JWK;
}

export async function newSigningKey(kid: string = randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  return { kid, privateKey, publicJwk };
}

export interface AssertionClaims {
  readonly sid: string;
  readonly sub: string;
  readonly email?: string;
  readonly iatSec?: number;
  readonly extra?: JWTPayload;
}

/** Signs like Pomerium's authorize service: typ JWT, kid and alg in the header. */
export function mint(key: SigningKey, claims: AssertionClaims, header: Record<string, unknown> = {}): Promise<string> {
  const iat = claims.iatSec ?? Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: HOST,
    aud: HOST,
    jti: randomUUID(),
    iat,
    exp: iat + 300,
    sub: claims.sub,
    user: claims.sub,
    email: claims.email ?? `${claims.sub}@example.com`,
    groups: [],
    sid: claims.sid,
    name: "",
    ...claims.extra,
  })
    .setProtectedHeader({ typ: "JWT", alg: "ES256", kid: key.kid, ...header })
    .sign(key.privateKey);
}

export type JwksMode = "serve" | "down" | "garbage" | "hang";

export interface JwksEndpoint {
  readonly url: string;
  /** Keys served, first signs (as Pomerium lists the keys of its signing_key). */
  keys: SigningKey[];
  mode: JwksMode;
  /** GET requests answered or hung so far. */
  readonly requests: number;
  /** Requests whose answer was written out in full (a hung one never is). */
  readonly answered: number;
  close(): Promise<void>;
}

export async function startJwksEndpoint(keys: SigningKey[]): Promise<JwksEndpoint> {
  const hung = new Set<ServerResponse>();
  let requests = 0;
  let answered = 0;
  const endpoint = {
    url: "",
    keys,
    mode: "serve" as JwksMode,
    get requests() {
      return requests;
    },
    get answered() {
      return answered;
    },
    close: async () => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    requests++;
    res.on("finish", () => answered++);
    if (req.url !== "/.well-known/pomerium/jwks.json") return void res.writeHead(404).end();
    switch (endpoint.mode) {
      case "down":
        return void res.writeHead(503).end("unavailable");
      case "garbage":
        return void res.writeHead(200, { "content-type": "application/json" }).end("{\"keys\": 42, <html>");
      case "hang":
        hung.add(res);
        return;
      case "serve": {
        const body = JSON.stringify({ keys: endpoint.keys.map((k) => k.publicJwk) });
        return void res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60" }).end(body);
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/pomerium/jwks.json`;
  return endpoint;
}
