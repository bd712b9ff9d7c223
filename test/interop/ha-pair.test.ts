/**
 * Two Pomerium databrokers on one PostgreSQL database, as in an HA deployment behind Envoy's
 * round-robin: they share one server version and one change log, so a client can switch
 * instances in the middle of an incremental Sync without a full resync (architecture: Scale).
 *
 * The pair runs on a database some earlier instance already migrated (the steady state). On a
 * fresh database Pomerium does not keep that promise: the instance that creates the schema
 * caches the server version it first inserted, and migration 2 then overwrites the stored one
 * (pkg/storage/postgres/migrate.go, v0.32.9 and v0.33.0 alike). The last test pins that down.
 */
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { RecordSchema, type Record as DbRecord, type SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { connectClients, type ClientSet } from "../conformance/clients.js";
import { startPomerium, startPomeriumInstances, type PomeriumInstance } from "../support/pomerium-harness.js";
import { startPostgresCluster, type PostgresCluster } from "../support/postgres-cluster.js";
import { requirePomeriumOrExplain } from "./interop-availability.js";

const SESSION_TYPE = "type.googleapis.com/session.Session";
const sharedSecret = randomBytes(32).toString("base64");

let cluster: PostgresCluster | undefined;
let pair: PomeriumInstance[] = [];
let a: ClientSet;
let b: ClientSet;

function session(id: string, userId: string): DbRecord {
  return create(RecordSchema, {
    type: SESSION_TYPE,
    id,
    data: anyPack(SessionSchema, create(SessionSchema, { id, userId })),
  });
}

/** Reads a Sync stream until it ends (wait=false) and returns the records, in order. */
async function drain(stream: AsyncIterable<SyncResponse>): Promise<DbRecord[]> {
  const records: DbRecord[] = [];
  for await (const res of stream) if (res.response.case === "record") records.push(res.response.value);
  return records;
}

beforeAll(async () => {
  await requirePomeriumOrExplain();
  cluster = await startPostgresCluster();
  await cluster.createDatabase("ha_pair");
  const dsn = cluster.dsn("ha_pair");
  // One instance creates the schema and goes away, as in a deployment that has run before.
  const migrator = await startPomerium({ storage: "postgres", dsn, sharedSecret, name: "ha-migrator" });
  await migrator.stop();
  pair = await startPomeriumInstances(2, { storage: "postgres", dsn, sharedSecret, name: "ha" });
  a = connectClients({ url: pair[0]!.url, sharedSecret });
  b = connectClients({ url: pair[1]!.url, sharedSecret });
}, 30 * 60_000);

afterAll(async () => {
  a?.close();
  b?.close();
  await Promise.all(pair.map((p) => p.stop()));
  await cluster?.stop();
});

describe("two Pomerium databrokers on one Postgres", () => {
  it("report the same server version", async () => {
    const [infoA, infoB] = await Promise.all([a.db.serverInfo({}), b.db.serverInfo({})]);
    expect(infoA.serverVersion).toBe(infoB.serverVersion);
    expect(pair[0]!.serverVersion).toBe(pair[1]!.serverVersion);
    const stored = await cluster!.sql("ha_pair", "SELECT server_version FROM pomerium.migration_info");
    expect(BigInt(stored.trim())).toBe(infoA.serverVersion);
  });

  it("deliver a record put through one to a waiting Sync opened against the other", async () => {
    const { serverVersion, latestRecordVersion } = await b.db.serverInfo({});
    const abort = new AbortController();
    const stream = b.db.sync({ serverVersion, recordVersion: latestRecordVersion, type: SESSION_TYPE }, { signal: abort.signal });
    const firstRecord = (async () => {
      for await (const res of stream) if (res.response.case === "record") return res.response.value;
      throw new Error("Sync ended without a record");
    })();
    // Give the stream time to open and start waiting before the write (it needs no message to wait).
    await new Promise((r) => setTimeout(r, 300));
    const put = await a.db.put({ records: [session("ha-live", "user-1")] });
    try {
      const got = await firstRecord;
      expect(got.id).toBe("ha-live");
      expect(got.version).toBe(put.records[0]!.version);
    } finally {
      abort.abort();
      await firstRecord.catch(() => undefined);
    }
  });

  it("continue a Sync on the other instance from the first one's versions without ABORTED", async () => {
    const first = await a.db.put({ records: [session("ha-resume-1", "user-2")] });
    const { serverVersion } = await a.db.serverInfo({});
    const seenOnA = await drain(a.db.sync({ serverVersion, recordVersion: 0n, type: SESSION_TYPE, wait: false }));
    const lastSeen = seenOnA.at(-1)!.version;
    expect(lastSeen).toBe(first.records[0]!.version);

    const second = await b.db.put({ records: [session("ha-resume-2", "user-2")] });
    let resumed: DbRecord[];
    try {
      resumed = await drain(b.db.sync({ serverVersion, recordVersion: lastSeen, type: SESSION_TYPE, wait: false }));
    } catch (err) {
      throw new Error(`resuming on the other instance failed with ${Code[ConnectError.from(err).code]}: ${String(err)}`);
    }
    expect(resumed.map((r) => [r.id, r.version])).toEqual([["ha-resume-2", second.records[0]!.version]]);
  });
});

describe("Pomerium on a fresh Postgres database", () => {
  it("has the instance that created the schema report a server version other than the stored one until it restarts", async () => {
    await cluster!.createDatabase("fresh");
    const dsn = cluster!.dsn("fresh");
    const creator = await startPomerium({ storage: "postgres", dsn, sharedSecret, name: "fresh-creator" });
    const stored = BigInt((await cluster!.sql("fresh", "SELECT server_version FROM pomerium.migration_info")).trim());
    const second = await startPomerium({ storage: "postgres", dsn, sharedSecret, name: "fresh-second" });
    try {
      expect(creator.serverVersion).not.toBe(stored);
      expect(second.serverVersion).toBe(stored);
      await creator.stop();
      const restarted = await startPomerium({ storage: "postgres", dsn, sharedSecret, name: "fresh-restarted" });
      await restarted.stop();
      expect(restarted.serverVersion).toBe(stored);
    } finally {
      await Promise.all([creator.stop(), second.stop()]);
    }
  });
});
