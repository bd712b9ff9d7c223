import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isConnectionFailure } from "../../src/transport/connection-errors.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS } from "../../src/transport/databroker-transport.js";
import { createDatabrokerUrlSet } from "../../src/transport/databroker-url-set.js";
import { SharedSecretError } from "../../src/transport/shared-secret.js";
import { startRecordingServer, type RecordingServer } from "./recording-databroker.js";

const SECRET = randomBytes(32).toString("base64");
let alive: RecordingServer;
let deadUrl: string;

beforeAll(async () => {
  alive = await startRecordingServer();
  const dead = await startRecordingServer();
  deadUrl = dead.url;
  await dead.close();
});
afterAll(async () => {
  await alive.close();
});

describe("databroker URL set", () => {
  it("moves on after a refusal without dropping the refusing node's connection", async () => {
    const other = await startRecordingServer();
    const set = createDatabrokerUrlSet([alive.url, other.url], { sharedSecret: SECRET });
    try {
      const first = set.current();
      await first.dataBroker.serverInfo({});
      const second = set.moveOn(first);
      expect(second.url).toBe(other.url);
      expect(first.resets).toBe(0);
      // A stale report (the refusing node is no longer current) changes nothing.
      expect(set.moveOn(first)).toBe(second);
      // Round robin: the refusing node's connection is still there, and still works.
      const back = set.moveOn(second);
      expect(back).toBe(first);
      await expect(back.dataBroker.serverInfo({})).resolves.toBeDefined();
    } finally {
      await set.close();
      await other.close();
    }
  });

  it.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("starts on the first URL and moves to the next one in order after a connection failure (%s)", async (implementation) => {
    const set = createDatabrokerUrlSet([deadUrl, alive.url], { sharedSecret: SECRET, implementation });
    try {
      const first = set.current();
      expect(first.url).toBe(deadUrl);
      const error = await first.dataBroker.serverInfo({}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isConnectionFailure(error)).toBe(true);
      const second = set.failover(first);
      expect(second.url).toBe(alive.url);
      expect(set.current()).toBe(second);
      const info = await second.dataBroker.serverInfo({});
      expect(info.serverVersion).toBe(2n ** 64n - 1n);
      expect(alive.calls.at(-1)!.headers.get("jwt")).toBeTruthy();
    } finally {
      set.close();
    }
  });

  it("ignores a stale failure report about a URL it already left", () => {
    const set = createDatabrokerUrlSet(["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"], { sharedSecret: SECRET });
    try {
      const first = set.current();
      const second = set.failover(first);
      expect(set.failover(first)).toBe(second); // reported twice: moves only once
      expect(set.failover(second).url).toBe("http://127.0.0.1:3");
      expect(set.failover(set.current()).url).toBe("http://127.0.0.1:1"); // wraps around
    } finally {
      set.close();
    }
  });

  it("validates the secret and every URL at construction", () => {
    expect(() => createDatabrokerUrlSet(["http://a:1"], { sharedSecret: "short" })).toThrow(SharedSecretError);
    expect(() => createDatabrokerUrlSet(["http://a:1", "grpc://b:2"], { sharedSecret: SECRET })).toThrow(ConnectError);
    expect(() => createDatabrokerUrlSet([], { sharedSecret: SECRET })).toThrow(/at least one/);
    expect(() => createDatabrokerUrlSet(["http://a:1"], { sharedSecret: SECRET, pingIntervalMs: 1000 })).toThrow(/5 minutes/);
    expect(() => createDatabrokerUrlSet(["https://a:1"], { sharedSecret: SECRET, tls: { key: "k" } })).toThrow(/cert and tls.key/);
  });

  it.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("refuses use after close() (%s)", async (implementation) => {
    const set = createDatabrokerUrlSet([alive.url], { sharedSecret: SECRET, implementation });
    const connection = set.current();
    set.close();
    expect(() => set.current()).toThrow(ConnectError);
    await expect(connection.dataBroker.serverInfo({})).rejects.toMatchObject({ code: Code.Canceled });
  });
});
