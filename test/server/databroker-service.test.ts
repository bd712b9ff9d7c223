/**
 * Service-level behaviour over real h2c sockets that the engine tests cannot show: stream
 * lifecycles (wait, wake-ups, Clear cancelling), error codes and messages, auth, size limits.
 */
import { create } from "@bufbuild/protobuf";
import { anyPack, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RecordSchema, type Record } from "../../gen/databroker/databroker_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { parseSharedSecret } from "../../src/transport/shared-secret.js";
import { failure } from "./call-failure.js";
import { databrokerClients, type TestClients } from "./databroker-client.js";

const T = "type.googleapis.com/user.User";
const user = (id: string, name = id) => create(RecordSchema, { type: T, id, data: anyPack(UserSchema, create(UserSchema, { id, name })) });


describe("in-memory databroker service", () => {
  const sharedSecret = randomBytes(32).toString("base64");
  let server: RunningInMemoryDatabroker;
  let c: TestClients;

  beforeEach(async () => {
    server = await startInMemoryDatabroker({ sharedSecret, maxReceiveMessageBytes: 64 * 1024 });
    c = databrokerClients(server.url, sharedSecret);
  });
  afterEach(async () => {
    await server.close();
  });

  it("fails startup with the shared-secret error for a bad secret", async () => {
    await expect(startInMemoryDatabroker({ sharedSecret: "c2hvcnQ=" })).rejects.toThrow(/Pomerium requires exactly 32/);
  });

  describe("Sync", () => {
    it("with wait=false streams options, then the backlog in version order, then ends OK", async () => {
      await c.databroker.put({ records: [user("a"), user("b")] });
      await c.databroker.put({ records: [create(RecordSchema, { type: T, id: "a", deletedAt: timestampFromMs(0) })] });
      await c.databroker.setOptions({ type: T, options: { capacity: 10n } });
      const seen: string[] = [];
      for await (const msg of c.databroker.sync({ serverVersion: server.serverVersion, recordVersion: 0n, type: T, wait: false })) {
        if (msg.response.case === "options") seen.push(`options:${msg.response.value.typeURL}`);
        if (msg.response.case === "record") seen.push(`${msg.response.value.id}@${msg.response.value.version}${msg.response.value.deletedAt ? "-" : ""}`);
      }
      expect(seen).toEqual([`options:${T}`, "a@1", "b@2", "a@3-"]);
    });

    it("with wait unset keeps the stream open and wakes up for new changes", async () => {
      const abort = new AbortController();
      const stream = c.databroker.sync({ serverVersion: server.serverVersion, recordVersion: 0n, type: "" }, { signal: abort.signal });
      const it = stream[Symbol.asyncIterator]();
      const first = it.next();
      await new Promise((r) => setTimeout(r, 50));
      await c.databroker.put({ records: [user("late")] });
      const msg = await first;
      expect(msg.value?.response.case).toBe("record");
      expect((msg.value?.response.value as Record).id).toBe("late");
      const second = it.next();
      await c.databroker.put({ records: [user("later")] });
      expect(((await second).value?.response.value as Record).id).toBe("later");
      abort.abort();
    });

    it("answers ABORTED for a wrong server version and for a compacted record version", async () => {
      const drain = async (req: { serverVersion: bigint; recordVersion: bigint }) => {
        for await (const _ of c.databroker.sync({ ...req, wait: false })) void _;
      };
      const wrong = await failure(drain({ serverVersion: server.serverVersion + 1n, recordVersion: 0n }));
      expect([wrong.code, wrong.rawMessage]).toEqual([Code.Aborted, "invalid server version"]);
      await c.databroker.put({ records: [user("a"), user("b"), user("c")] });
      server.compactNow();
      expect((await c.databroker.serverInfo({})).earliestRecordVersion).toBe(3n);
      const old = await failure(drain({ serverVersion: server.serverVersion, recordVersion: 1n }));
      expect([old.code, old.rawMessage]).toEqual([Code.Aborted, "invalid record version"]);
      await drain({ serverVersion: server.serverVersion, recordVersion: 2n });
    });

    it("ends every open stream with CANCELLED on Clear, and the old server version is then ABORTED", async () => {
      const oldVersion = server.serverVersion;
      const stream = c.databroker.sync({ serverVersion: oldVersion, recordVersion: 0n });
      const it = stream[Symbol.asyncIterator]();
      const pending = failure(it.next());
      await new Promise((r) => setTimeout(r, 50));
      const cleared = await c.databroker.clear({});
      expect(cleared.oldServerVersion).toBe(oldVersion);
      expect(cleared.newServerVersion).toBe(server.serverVersion);
      expect(server.serverVersion).not.toBe(oldVersion);
      const err = await pending;
      expect(err.code).toBe(Code.Canceled);
      const again = await failure(async () => {
        for await (const _ of c.databroker.sync({ serverVersion: oldVersion, recordVersion: 0n, wait: false })) void _;
      });
      expect(again.code).toBe(Code.Aborted);
    });
  });

  describe("cleaner", () => {
    it("expires records past their ttl on its own timer, waking waiting Sync streams with the tombstone", async () => {
      const fast = await startInMemoryDatabroker({ sharedSecret, cleanupIntervalMs: 20 });
      try {
        const fc = databrokerClients(fast.url, sharedSecret);
        await fc.databroker.setOptions({ type: T, options: { ttl: { nanos: 1_000_000 } } });
        await fc.databroker.put({ records: [user("short-lived")] });
        const seen: string[] = [];
        for await (const msg of fc.databroker.sync({ serverVersion: fast.serverVersion, recordVersion: 0n, type: T })) {
          if (msg.response.case !== "record") continue;
          seen.push(`${msg.response.value.id}${msg.response.value.deletedAt ? "-" : "+"}`);
          if (msg.response.value.deletedAt) break;
        }
        expect(seen).toEqual(["short-lived+", "short-lived-"]);
        expect((await failure(fc.databroker.get({ type: T, id: "short-lived" }))).code).toBe(Code.NotFound);
      } finally {
        await fast.close();
      }
    });

    it("cleanupNow() drops changes older than the retention, keeping the newest", async () => {
      const short = await startInMemoryDatabroker({ sharedSecret, changeRetentionMs: 1 });
      try {
        const sc = databrokerClients(short.url, sharedSecret);
        await sc.databroker.put({ records: [user("a"), user("b"), user("c")] });
        await new Promise((r) => setTimeout(r, 10));
        short.cleanupNow();
        expect(await sc.databroker.serverInfo({})).toMatchObject({ earliestRecordVersion: 3n, latestRecordVersion: 3n });
      } finally {
        await short.close();
      }
    });
  });

  describe("SyncLatest", () => {
    it("is cancelled by a Clear while it is still streaming records", async () => {
      const many = Array.from({ length: 3000 }, (_, i) => create(RecordSchema, { type: "bulk", id: `r${String(i).padStart(5, "0")}`, data: anyPack(UserSchema, create(UserSchema, { name: "n".repeat(200) })) }));
      for (let i = 0; i < many.length; i += 250) await c.databroker.put({ records: many.slice(i, i + 250) });
      const it = c.databroker.syncLatest({ type: "bulk" })[Symbol.asyncIterator]();
      expect((await it.next()).value?.response.case).toBe("record");
      await c.databroker.clear({});
      const err = await failure(async () => {
        for (;;) if ((await it.next()).done) return;
      });
      expect(err.code).toBe(Code.Canceled);
    });

    it("sends records, then options only for types with live records, then one versions message", async () => {
      await c.databroker.put({ records: [user("b"), user("a"), create(RecordSchema, { type: "z", id: "1" })] });
      await c.databroker.setOptions({ type: T, options: { indexableFields: ["name"] } });
      const seen: string[] = [];
      for await (const msg of c.databroker.syncLatest({ type: "" })) {
        const r = msg.response;
        if (r.case === "record") seen.push(`${r.value.type}/${r.value.id}`);
        if (r.case === "options") seen.push(`options:${r.value.typeURL}`);
        if (r.case === "versions") seen.push(`versions:${r.value.latestRecordVersion}`);
      }
      // the default options of other types are not sent: those types have no live records
      expect(seen).toEqual([`${T}/a`, `${T}/b`, "z/1", `options:${T}`, "versions:3"]);
    });
  });

  describe("errors", () => {
    it("Get of a missing record is NOT_FOUND 'record not found'", async () => {
      const err = await failure(c.databroker.get({ type: T, id: "none" }));
      expect([err.code, err.rawMessage]).toEqual([Code.NotFound, "record not found"]);
    });

    it("GetOptions with an empty type is INVALID_ARGUMENT, with unknown options NOT_FOUND", async () => {
      const empty = await failure(c.databroker.getOptions({ type: "" }));
      expect([empty.code, empty.rawMessage]).toEqual([Code.InvalidArgument, "options req type is empty"]);
      expect((await failure(c.databroker.getOptions({ type: "nothing" }))).code).toBe(Code.NotFound);
    });

    it("SetOptions with empty options deletes them and answers NOT_FOUND", async () => {
      await c.databroker.setOptions({ type: T, options: { capacity: 3n } });
      expect((await c.databroker.getOptions({ type: T })).options?.capacity).toBe(3n);
      expect((await failure(c.databroker.setOptions({ type: T, options: {} }))).code).toBe(Code.NotFound);
      expect((await failure(c.databroker.getOptions({ type: T }))).code).toBe(Code.NotFound);
    });

    it("Query rejects malformed filters, $not, operators and negative paging without changing data", async () => {
      await c.databroker.put({ records: [user("a")] });
      const bad = await failure(c.databroker.query({ type: T, limit: 1n, filter: { $or: "x" } }));
      expect([bad.code, bad.rawMessage]).toEqual([Code.InvalidArgument, "invalid query filter: $or must be an array"]);
      const not = await failure(c.databroker.query({ type: T, limit: 1n, filter: { $not: { id: "a" } } }));
      expect(not.code).toBe(Code.Unimplemented);
      expect(not.rawMessage).toContain("logical operator not supported");
      const op = await failure(c.databroker.query({ type: T, limit: 1n, filter: { id: { $startsWith: "a" } } }));
      expect(op.code).toBe(Code.Unimplemented);
      expect(op.rawMessage).toContain("operator not supported");
      expect((await failure(c.databroker.query({ type: T, offset: -1n, limit: 1n }))).code).toBe(Code.InvalidArgument);
      expect((await failure(c.databroker.query({ type: T, limit: -1n }))).code).toBe(Code.InvalidArgument);
      expect((await c.databroker.serverInfo({})).latestRecordVersion).toBe(1n);
    });

    it("Query pages, counts and answers the current versions", async () => {
      await c.databroker.put({ records: [user("a", "Alpha"), user("b", "Beta"), user("c", "alphabet")] });
      const res = await c.databroker.query({ type: T, query: "ALPHA", offset: 1n, limit: 5n });
      expect(res.records.map((r) => r.id)).toEqual(["c"]);
      expect(res.totalCount).toBe(2n);
      expect(res.serverVersion).toBe(server.serverVersion);
      expect(res.recordVersion).toBe(3n);
      expect((await c.databroker.query({ type: T, limit: 0n })).records).toEqual([]);
    });

    it("stores undecodable data opaquely; Query skips it for free text and Patch fails cleanly", async () => {
      const garbage = create(RecordSchema, { type: T, id: "g", data: { typeUrl: `type.googleapis.com/user.User`, value: new Uint8Array([0xff, 0xff, 0x01]) } });
      const put = await c.databroker.put({ records: [garbage, user("ok", "findme")] });
      expect(put.records[0]?.version).toBe(1n);
      expect((await c.databroker.get({ type: T, id: "g" })).record?.data?.value).toEqual(new Uint8Array([0xff, 0xff, 0x01]));
      const found = await c.databroker.query({ type: T, query: "findme", limit: 10n });
      expect(found.records.map((r) => r.id)).toEqual(["ok"]);
      const err = await failure(c.databroker.patch({ records: [user("g")], fieldMask: { paths: ["name"] } }));
      expect(err.code).toBe(Code.Unknown);
      expect(err.rawMessage).toContain("could not unmarshal existing record data");
      expect((await c.databroker.serverInfo({})).latestRecordVersion).toBe(2n);
    });

    it("Patch with an unknown field path fails with UNKNOWN", async () => {
      await c.databroker.put({ records: [user("a")] });
      const err = await failure(c.databroker.patch({ records: [user("a")], fieldMask: { paths: ["nope"] } }));
      expect(err.code).toBe(Code.Unknown);
      expect(err.rawMessage).toContain('cannot overwrite unknown field "nope"');
    });

    it("leases answer ALREADY_EXISTS with the exact messages", async () => {
      const { id } = await c.databroker.acquireLease({ name: "l", duration: { seconds: 60n } });
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const taken = await failure(c.databroker.acquireLease({ name: "l", duration: { seconds: 60n } }));
      expect([taken.code, taken.rawMessage]).toEqual([Code.AlreadyExists, "lease is already taken"]);
      const lost = await failure(c.databroker.renewLease({ name: "l", id: "not-mine", duration: { seconds: 60n } }));
      expect([lost.code, lost.rawMessage]).toEqual([Code.AlreadyExists, "lease no longer held"]);
      await c.databroker.releaseLease({ name: "l", id: "not-mine" });
      await c.databroker.renewLease({ name: "l", id, duration: { seconds: 60n } });
      await c.databroker.releaseLease({ name: "l", id });
      await c.databroker.acquireLease({ name: "l", duration: { seconds: 60n } });
    });

    it("refuses a message over the receive limit with RESOURCE_EXHAUSTED and keeps serving", async () => {
      const big = create(RecordSchema, { type: T, id: "big", data: anyPack(UserSchema, create(UserSchema, { name: "x".repeat(70 * 1024) })) });
      expect((await failure(c.databroker.put({ records: [big] }))).code).toBe(Code.ResourceExhausted);
      expect((await c.databroker.serverInfo({})).latestRecordVersion).toBe(0n);
    });

    it("checkpoint defaults to (0,0) and is_leader false", async () => {
      expect(await c.checkpoint.getCheckpoint({})).toMatchObject({ checkpoint: { serverVersion: 0n, recordVersion: 0n }, isLeader: false });
      await c.checkpoint.setCheckpoint({ checkpoint: { serverVersion: 5n, recordVersion: 6n } });
      expect((await c.checkpoint.getCheckpoint({})).checkpoint).toMatchObject({ serverVersion: 5n, recordVersion: 6n });
    });
  });

  describe("authentication", () => {
    const withToken = (token: () => Promise<string | null> | string | null) => databrokerClients(server.url, sharedSecret, token);

    it("answers 'unauthenticated' without a token and 'invalid JWT' for a bad one, on unary calls and streams", async () => {
      const none = await failure(withToken(() => null).databroker.serverInfo({}));
      expect([none.code, none.rawMessage]).toEqual([Code.Unauthenticated, "unauthenticated"]);
      const garbage = await failure(withToken(() => "nope").checkpoint.getCheckpoint({}));
      expect([garbage.code, garbage.rawMessage]).toEqual([Code.Unauthenticated, "invalid JWT"]);
      const expired = await failure(async () => {
        const token = await new SignJWT({ exp: Math.floor(Date.now() / 1000) - 5 }).setProtectedHeader({ alg: "HS256" }).sign(parseSharedSecret(sharedSecret));
        for await (const _ of withToken(() => token).databroker.syncLatest({ type: "" })) void _;
      });
      expect([expired.code, expired.rawMessage]).toEqual([Code.Unauthenticated, "invalid JWT"]);
    });
  });
});
