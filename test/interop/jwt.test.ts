/**
 * The token our SDK signs (src/transport/shared-secret.ts, through the production transport)
 * is what Pomerium's own databroker wants, and Pomerium refuses one signed with another secret.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import { createDatabrokerTransport, type DatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { startPomerium, type PomeriumInstance } from "../support/pomerium-harness.js";
import { requirePomeriumOrExplain } from "./interop-availability.js";

const sharedSecret = randomBytes(32).toString("base64");
let pomerium: PomeriumInstance;
const transports: DatabrokerTransport[] = [];

function client(secret: string) {
  const t = createDatabrokerTransport(pomerium.url, { sharedSecret: secret });
  transports.push(t);
  return createDataBrokerClient(t.transport);
}

async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

beforeAll(async () => {
  await requirePomeriumOrExplain();
  pomerium = await startPomerium({ storage: "memory", sharedSecret, name: "jwt" });
}, 30 * 60_000);

afterAll(async () => {
  for (const t of transports) t.close();
  await pomerium?.stop();
});

describe("Pomerium accepts the SDK's JWT", () => {
  it("answers ServerInfo for a token signed with the shared secret", async () => {
    const info = await client(sharedSecret).serverInfo({});
    expect(info.serverVersion).toBe(pomerium.serverVersion);
  });

  it("opens a Sync stream with a token signed with the shared secret", async () => {
    const db = client(sharedSecret);
    const { serverVersion } = await db.serverInfo({});
    const received = [];
    for await (const res of db.sync({ serverVersion, recordVersion: 0n, type: "", wait: false })) received.push(res);
    expect(received).toEqual([]);
  });

  it("answers UNAUTHENTICATED to a unary call signed with another secret", async () => {
    expect(await codeOf(client(randomBytes(32).toString("base64")).serverInfo({}))).toBe(Code.Unauthenticated);
  });

  it("answers UNAUTHENTICATED to a stream signed with another secret", async () => {
    const db = client(randomBytes(32).toString("base64"));
    const drain = async () => {
      for await (const _ of db.syncLatest({ type: "" })) void _;
    };
    expect(await codeOf(drain())).toBe(Code.Unauthenticated);
  });
});
