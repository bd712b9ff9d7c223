import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { databrokerClients, type TestClients } from "./databroker-client.js";

const sessionType = "type.googleapis.com/session.Session";

describe("in-memory databroker over h2c (smoke)", () => {
  const sharedSecret = randomBytes(32).toString("base64");
  let server: RunningInMemoryDatabroker;
  let clients: TestClients;

  beforeAll(async () => {
    server = await startInMemoryDatabroker({ sharedSecret });
    clients = databrokerClients(server.url, sharedSecret);
  });
  afterAll(async () => {
    await server.close();
  });

  it("listens on an ephemeral loopback port", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.serverVersion).not.toBe(0n);
  });

  it("stores a Put and streams it back from SyncLatest, versions last", async () => {
    const data = anyPack(SessionSchema, create(SessionSchema, { id: "s1", userId: "u1" }));
    const put = await clients.databroker.put({ records: [create(RecordSchema, { type: sessionType, id: "s1", data })] });
    expect(put.serverVersion).toBe(server.serverVersion);
    expect(put.records[0]?.version).toBe(1n);

    const kinds: string[] = [];
    const ids: string[] = [];
    let latest = -1n;
    for await (const msg of clients.databroker.syncLatest({ type: sessionType })) {
      kinds.push(msg.response.case ?? "none");
      if (msg.response.case === "record") ids.push(msg.response.value.id);
      if (msg.response.case === "versions") {
        expect(msg.response.value.serverVersion).toBe(server.serverVersion);
        latest = msg.response.value.latestRecordVersion;
      }
    }
    expect(ids).toEqual(["s1"]);
    expect(kinds.at(-1)).toBe("versions");
    expect(latest).toBe(1n);
  });

  it("rejects a call without a JWT as UNAUTHENTICATED", async () => {
    const anonymous = databrokerClients(server.url, sharedSecret, () => null);
    await expect(anonymous.databroker.serverInfo({})).rejects.toMatchObject({ code: 16, rawMessage: "unauthenticated" });
  });
});
