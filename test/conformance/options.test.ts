/**
 * Contract: per-type options (capacity, indexable_fields, ttl), their defaults, and capacity
 * eviction (spec section 7).
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";

import { OptionsSchema } from "../../gen/databroker/databroker_pb.js";
import { expectCallError } from "./expect-error.js";
import { describeTargets, loadTargets } from "./harness.js";
import { DEFAULT_OPTION_TYPES, latestRecords, put, recordsOf, SESSION_TYPE, sessionRecord, syncBacklog, USER_TYPE, userRecord } from "./records.js";

const targets = await loadTargets();
const MINUTES_15 = 15n * 60n;

describeTargets(targets, "options", (ctx) => {
  it('refuses GetOptions without a type: INVALID_ARGUMENT "options req type is empty"', async () => {
    await expectCallError(ctx.db.getOptions({ type: "" }), Code.InvalidArgument, "options req type is empty");
  });

  it("answers GetOptions for a type without options with NOT_FOUND", async () => {
    // The text is the backend's own: file's message, or pgx's "no rows" on postgres.
    const message = ctx.target.flavour === "postgres" ? "no rows in result set" : "no such options for databroker record";
    await expectCallError(ctx.db.getOptions({ type: SESSION_TYPE }), Code.NotFound, message);
  });

  it("has Pomerium's default options from the start (v0.33: with ttls and the oauth21 types)", async () => {
    const get = async (type: string) => (await ctx.db.getOptions({ type })).options;
    // v0.32 predates record ttls and the oauth21 types.
    const v032 = ctx.target.pomeriumVersion?.startsWith("v0.32.") === true;

    const sbr = await get(DEFAULT_OPTION_TYPES.sessionBindingRequest);
    expect(sbr?.capacity).toBe(50_000n);
    expect(sbr?.indexableFields).toEqual(["key"]);
    if (v032) expect(sbr?.ttl).toBeUndefined();
    else expect([sbr?.ttl?.seconds, sbr?.ttl?.nanos ?? 0]).toEqual([MINUTES_15, 0]);

    const sb = await get(DEFAULT_OPTION_TYPES.sessionBinding);
    expect(sb?.capacity).toBeUndefined();
    expect(sb?.indexableFields).toEqual(["session_id", "user_id"]);
    expect(sb?.ttl).toBeUndefined();

    const ib = await get(DEFAULT_OPTION_TYPES.identityBinding);
    expect(ib?.capacity).toBeUndefined();
    expect(ib?.indexableFields).toEqual(["user_id"]);
    expect(ib?.ttl).toBeUndefined();

    if (v032) {
      await expectCallError(ctx.db.getOptions({ type: DEFAULT_OPTION_TYPES.upstreamMcpToken }), Code.NotFound);
      await expectCallError(ctx.db.getOptions({ type: DEFAULT_OPTION_TYPES.pendingUpstreamAuth }), Code.NotFound);
      return;
    }
    const mcp = await get(DEFAULT_OPTION_TYPES.upstreamMcpToken);
    expect(mcp?.capacity).toBeUndefined();
    expect(mcp?.indexableFields).toEqual(["user_id", "route_id"]);
    expect(mcp?.ttl).toBeUndefined();

    const pua = await get(DEFAULT_OPTION_TYPES.pendingUpstreamAuth);
    expect(pua?.capacity).toBeUndefined();
    expect(pua?.indexableFields).toEqual(["state_id"]);
    expect(pua?.ttl?.seconds).toBe(MINUTES_15);
  });

  it("stores options as given and answers SetOptions with them", async () => {
    const options = create(OptionsSchema, { capacity: 7n, indexableFields: ["user_id", "idp_id"], ttl: durationFromMs(90_000) });
    const set = await ctx.db.setOptions({ type: SESSION_TYPE, options });
    const got = (await ctx.db.getOptions({ type: SESSION_TYPE })).options;
    // Postgres before v0.33 has no ttl column: the ttl is dropped there.
    const keepsTtl = !(ctx.target.flavour === "postgres" && ctx.target.pomeriumVersion?.startsWith("v0.32.") === true);
    for (const o of [set.options, got]) {
      expect(o?.capacity).toBe(7n);
      expect(o?.indexableFields).toEqual(["user_id", "idp_id"]);
      expect(o?.ttl?.seconds).toBe(keepsTtl ? 90n : undefined);
    }
  });

  it("replaces the whole options on a second SetOptions", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { capacity: 7n, indexableFields: ["user_id"] }) });
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["idp_id"] }) });
    const got = (await ctx.db.getOptions({ type: SESSION_TYPE })).options;
    expect(got?.capacity).toBeUndefined();
    expect(got?.indexableFields).toEqual(["idp_id"]);
  });

  it("deletes a type's options when given empty options, and SetOptions answers NOT_FOUND", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { capacity: 3n }) });
    await expectCallError(ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, {}) }), Code.NotFound);
    await expectCallError(ctx.db.getOptions({ type: SESSION_TYPE }), Code.NotFound);
    // A default can be removed the same way.
    await expectCallError(
      ctx.db.setOptions({ type: DEFAULT_OPTION_TYPES.identityBinding, options: create(OptionsSchema, {}) }),
      Code.NotFound,
    );
    await expectCallError(ctx.db.getOptions({ type: DEFAULT_OPTION_TYPES.identityBinding }), Code.NotFound);
  });

  it("evicts the least recently written records beyond capacity after a Put; tombstones on memory/file only", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { capacity: 2n }) });
    const [s1] = await put(ctx.db, sessionRecord("s1"));
    await put(ctx.db, sessionRecord("s2"));
    const [s3] = await put(ctx.db, sessionRecord("s3"));

    expect((await latestRecords(ctx.db, SESSION_TYPE)).map((r) => r.id)).toEqual(["s2", "s3"]);
    await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "s1" }), Code.NotFound, "record not found");

    const sv = (await ctx.db.serverInfo({})).serverVersion;
    const changes = recordsOf(await syncBacklog(ctx.db, { serverVersion: sv, recordVersion: s3!.version, type: SESSION_TYPE }));
    if (ctx.target.flavour === "postgres") {
      expect(changes).toEqual([]);
    } else {
      expect(changes.map((r) => [r.id, r.deletedAt !== undefined])).toEqual([["s1", true]]);
      expect(changes[0]!.version).toBe(s3!.version + 1n);
      expect(changes[0]!.version).toBeGreaterThan(s1!.version);
    }
  });

  it("counts a rewrite as recent: capacity keeps the records written last, not created last", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { capacity: 2n }) });
    await put(ctx.db, sessionRecord("s1"));
    await put(ctx.db, sessionRecord("s2"));
    await put(ctx.db, sessionRecord("s1", { userId: "rewritten" }));
    await put(ctx.db, sessionRecord("s3"));
    expect((await latestRecords(ctx.db, SESSION_TYPE)).map((r) => r.id)).toEqual(["s1", "s3"]);
  });

  it("enforces capacity after a whole batch", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { capacity: 2n }) });
    const res = await ctx.db.put({ records: [sessionRecord("a"), sessionRecord("b"), sessionRecord("c")] });
    expect(res.records.map((r) => r.id)).toEqual(["a", "b", "c"]);
    expect((await latestRecords(ctx.db, SESSION_TYPE)).map((r) => r.id)).toEqual(["b", "c"]);
  });

  it("does not evict on SetOptions alone, only on the next write", async () => {
    await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"), sessionRecord("s3"));
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { capacity: 1n }) });
    expect((await latestRecords(ctx.db, SESSION_TYPE)).map((r) => r.id)).toEqual(["s1", "s2", "s3"]);
    await put(ctx.db, sessionRecord("s4"));
    expect((await latestRecords(ctx.db, SESSION_TYPE)).map((r) => r.id)).toEqual(["s4"]);
  });

  it("applies capacity per type: other types are untouched", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { capacity: 1n }) });
    await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"));
    await put(ctx.db, userRecord("u1"), userRecord("u2"), userRecord("u3"));
    expect((await latestRecords(ctx.db, SESSION_TYPE)).map((r) => r.id)).toEqual(["s2"]);
    expect((await latestRecords(ctx.db, USER_TYPE)).map((r) => r.id)).toEqual(["u1", "u2", "u3"]);
  });
});

// Record ttl: the periodic cleaner deletes live records whose modified_at is older than now - ttl,
// leaving tombstones on every backend. Its one-minute period is too slow to wait for, so only
// targets that can run the cleaner on demand (ConformanceTarget.cleanup) are asked.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeTargets(
  targets.filter((t) => t.cleanup !== undefined),
  "record ttl (cleaner run on demand)",
  (ctx) => {
    it("deletes records older than the ttl with tombstones, keeps newer ones and other types", async () => {
      await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { ttl: durationFromMs(1_000) }) });
      const [old] = await put(ctx.db, sessionRecord("old"), userRecord("untouched"));
      await sleep(1_300);
      const [fresh] = await put(ctx.db, sessionRecord("fresh"));
      await ctx.target.cleanup!();

      expect((await latestRecords(ctx.db, SESSION_TYPE)).map((r) => r.id)).toEqual(["fresh"]);
      expect((await latestRecords(ctx.db, USER_TYPE)).map((r) => r.id)).toEqual(["untouched"]);
      await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "old" }), Code.NotFound, "record not found");

      const sv = (await ctx.db.serverInfo({})).serverVersion;
      const changes = recordsOf(await syncBacklog(ctx.db, { serverVersion: sv, recordVersion: fresh!.version }));
      expect(changes.map((r) => [r.id, r.deletedAt !== undefined])).toEqual([["old", true]]);
      expect(changes[0]!.version).toBeGreaterThan(old!.version);
    });

    it("does nothing for types without a ttl", async () => {
      await put(ctx.db, sessionRecord("s1"));
      const before = await ctx.db.serverInfo({});
      await sleep(50);
      await ctx.target.cleanup!();
      const after = await ctx.db.serverInfo({});
      expect(after.latestRecordVersion).toBe(before.latestRecordVersion);
      expect((await latestRecords(ctx.db, SESSION_TYPE)).map((r) => r.id)).toEqual(["s1"]);
    });
  },
);
