/**
 * The cache's local query against Pomerium's own Query (memory and Postgres storage): seeded
 * random sessions and users, seeded random filters and free text, offset and limit, compared id
 * for id, version for version and total_count for total_count.
 *
 * The local query follows file/memory semantics. Pomerium's Postgres storage differs in ways
 * the generated filters avoid there (postgres/filter.go):
 * - equality on a field is a JSON-path test on the protojson of any field, indexed or not, while
 *   memory answers only indexed fields (empty otherwise): on postgres, only indexed fields;
 * - protojson leaves out empty strings, so `field: ""` matches nothing on postgres while memory
 *   indexes an unset field under "": on postgres, only non-empty values;
 * - `$not` works on postgres but is UNIMPLEMENTED on memory and locally: never generated here
 *   (the memory case checks the refusal);
 * - results are ordered by the database collation: ids are lower-case ASCII letters and digits,
 *   whose collation order is the byte order on any locale.
 */
import { create } from "@bufbuild/protobuf";
import type { JsonObject } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OptionsSchema, type Record as DatabrokerRecord } from "../../gen/databroker/databroker_pb.js";
import { createDatabrokerCache, SESSION_TYPE, USER_TYPE, type DatabrokerCache } from "../../src/index.js";
import { Cleanups, FAST_RETRY, session, user } from "../cache/cache-fixtures.js";
import { STORAGES, startCacheInteropTarget, type CacheInteropStorage, type CacheInteropTarget } from "./pomerium-cache-target.js";
import { filterOf } from "../support/filter-arbitrary.js";

const SESSIONS = 80;
const USERS = 30;
const USER_IDS = ["alice", "bob", "Carol", ""];
const IDPS = ["idp-a", "idp-b", ""];
const ISSUERS = ["https://issuer-a.example.com", "https://ISSUER-b.example.com", ""];
const TOKEN_TYPES = ["Bearer", "DPoP"];
const NAMES = ["Ada", "Bob", "carol", ""];
const DOMAINS = ["example.com", "Example.org"];
const sessionIds = Array.from({ length: SESSIONS }, (_, i) => `s${String(i).padStart(3, "0")}`);
const userIds = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(3, "0")}`);
const SEED = 20261128;

/** The same records on every target (seeded), so a failure reproduces. */
function seededRecords(): { sessions: DatabrokerRecord[]; users: DatabrokerRecord[]; emails: string[] } {
  const [s] = fc.sample(
    fc.array(
      fc.record({
        user: fc.constantFrom(...USER_IDS),
        idp: fc.constantFrom(...IDPS),
        issuer: fc.constantFrom(...ISSUERS),
        tokenType: fc.constantFrom(...TOKEN_TYPES),
      }),
      { minLength: SESSIONS, maxLength: SESSIONS },
    ),
    { seed: SEED, numRuns: 1 },
  );
  const [u] = fc.sample(
    fc.array(fc.record({ name: fc.constantFrom(...NAMES), local: fc.constantFrom("ada", "bob", "x"), domain: fc.constantFrom(...DOMAINS) }), {
      minLength: USERS,
      maxLength: USERS,
    }),
    { seed: SEED + 1, numRuns: 1 },
  );
  // Emails repeat on purpose (several users per email), and every fifth user has none.
  const emails = u!.map((r, i) => (i % 5 === 4 ? "" : `${r.local}@${r.domain}`));
  return {
    sessions: s!.map((r, i) =>
      session(sessionIds[i]!, r.user, { idpId: r.idp, idToken: { issuer: r.issuer }, oauthToken: { tokenType: r.tokenType } }),
    ),
    users: u!.map((r, i) => user(userIds[i]!, emails[i]!, r.name)),
    emails: [...new Set(emails)],
  };
}

const nonEmpty = (values: readonly string[]) => values.filter((v) => v !== "");

/** Leaves both the target and the local query answer alike (see the header). */
function sessionLeaf(storage: CacheInteropStorage): fc.Arbitrary<JsonObject> {
  const values = (vs: readonly string[]) => (storage === "postgres" ? nonEmpty(vs) : [...vs]);
  const leaves: fc.Arbitrary<JsonObject>[] = [
    fc.constantFrom(...sessionIds.slice(0, 5), "nope").map((id) => ({ id })),
    fc.constantFrom(...values(USER_IDS), "nobody").map((v) => ({ user_id: v })),
    fc.constantFrom(...values(IDPS)).map((v) => ({ idp_id: { $eq: v } })),
    fc.constantFrom(...values(ISSUERS)).map((v) => ({ id_token: { issuer: v } })),
    fc.constantFrom(...values(ISSUERS)).map((v) => ({ "id_token.issuer": v })),
    fc.subarray(values(USER_IDS), { minLength: 1 }).map((vs) => ({ user_id: vs })),
    fc.tuple(fc.constantFrom(...values(USER_IDS)), fc.constantFrom(...values(IDPS))).map(([u, i]) => ({ user_id: u, idp_id: i })),
  ];
  // Not indexed: empty on memory and locally; postgres would match it through the JSON path.
  if (storage === "memory") leaves.push(fc.constantFrom(...TOKEN_TYPES).map((v) => ({ "oauth_token.token_type": v })));
  return fc.oneof(...leaves);
}

function userLeaf(storage: CacheInteropStorage, emails: readonly string[]): fc.Arbitrary<JsonObject> {
  const values = (vs: readonly string[]) => (storage === "postgres" ? nonEmpty(vs) : [...vs]);
  return fc.oneof(
    fc.constantFrom(...userIds.slice(0, 5), "nope").map((id) => ({ id })),
    fc.constantFrom(...values(emails), "nobody@example.com").map((v) => ({ email: v })),
    fc.constantFrom(...values(NAMES)).map((v) => ({ name: { $eq: v } })),
    fc.subarray(values(NAMES), { minLength: 1 }).map((vs) => ({ name: vs })),
    fc.tuple(fc.constantFrom(...values(emails)), fc.constantFrom(...values(NAMES))).map(([e, n]) => ({ email: e, name: n })),
  );
}


describe.each(STORAGES)("local query vs Query of Pomerium's databroker on %s", (storage) => {
  const cleanups = new Cleanups();
  let target: CacheInteropTarget;
  let cache: DatabrokerCache;
  const seeded = seededRecords();

  beforeAll(async () => {
    target = await startCacheInteropTarget(storage, `query_differential_${storage}`);
    cleanups.add(() => target.close());
    const db = target.writer;
    // Before the cache syncs: it learns indexable_fields from the SyncLatest snapshot.
    await db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["user_id", "idp_id", "id_token.issuer"] }) });
    await db.setOptions({ type: USER_TYPE, options: create(OptionsSchema, { indexableFields: ["email", "name"] }) });
    // In a few batches, so versions interleave across types.
    const all = [...seeded.sessions, ...seeded.users].sort((a, b) => (a.id < b.id ? -1 : 1)).reverse();
    for (let i = 0; i < all.length; i += 25) await db.put({ records: all.slice(i, i + 25) });
    const info = await db.serverInfo({});
    const latest = { serverVersion: info.serverVersion, recordVersion: info.latestRecordVersion };
    cache = createDatabrokerCache({ url: target.url, sharedSecret: target.sharedSecret, retry: FAST_RETRY, types: [SESSION_TYPE, USER_TYPE] });
    cleanups.add(() => cache.close());
    await cache.ready({ timeoutMs: 20_000 });
    for (const type of [SESSION_TYPE, USER_TYPE]) await cache.waitForVersion(latest, { type, timeoutMs: 20_000 });
  }, 180_000);
  afterAll(() => cleanups.run());

  async function compare(type: string, filter: JsonObject | undefined, query: string | undefined, offset: number, limit: number) {
    const remote = await target.writer.query({ type, filter, query: query ?? "", offset: BigInt(offset), limit: BigInt(limit) });
    const local = cache.query(type, { filter, query, offset, limit });
    const context = JSON.stringify({ type, filter, query, offset, limit });
    expect(local.records.map((r) => r.id), context).toEqual(remote.records.map((r) => r.id));
    expect(local.records.map((r) => r.version), context).toEqual(remote.records.map((r) => r.version));
    expect(local.totalCount, context).toBe(remote.totalCount);
    return remote;
  }

  it("answers random session filters, free text, offset and limit as the server does", async () => {
    let withMatches = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.option(filterOf(sessionLeaf(storage)), { nil: undefined }),
        fc.option(fc.constantFrom("alice", "ALICE", "carol", "issuer-b", "IDP-A", "bearer", "dpop", "zzz"), { nil: undefined }),
        fc.integer({ min: 0, max: SESSIONS + 5 }),
        fc.integer({ min: 0, max: SESSIONS + 5 }),
        async (filter, query, offset, limit) => {
          if ((await compare(SESSION_TYPE, filter, query, offset, limit)).totalCount > 0n) withMatches++;
        },
      ),
      { seed: 4242, numRuns: 150 },
    );
    // Most cases must match something, or the comparison proves little.
    expect(withMatches).toBeGreaterThan(50);
  });

  it("answers random user filters, free text, offset and limit as the server does", async () => {
    let withMatches = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.option(filterOf(userLeaf(storage, seeded.emails)), { nil: undefined }),
        fc.option(fc.constantFrom("ada", "BOB", "example", "EXAMPLE.ORG", "x@", "zzz"), { nil: undefined }),
        fc.integer({ min: 0, max: USERS + 5 }),
        fc.integer({ min: 0, max: USERS + 5 }),
        async (filter, query, offset, limit) => {
          if ((await compare(USER_TYPE, filter, query, offset, limit)).totalCount > 0n) withMatches++;
        },
      ),
      { seed: 4243, numRuns: 100 },
    );
    expect(withMatches).toBeGreaterThan(30);
  });

  it("finds records through the indexed fields on both sides (the comparisons are not vacuous)", async () => {
    const byUser = await compare(SESSION_TYPE, { user_id: "alice" }, undefined, 0, 1000);
    expect(byUser.totalCount).toBeGreaterThan(5n);
    const byIssuer = await compare(SESSION_TYPE, { $or: [{ "id_token.issuer": ISSUERS[0]! }, { id: "s000" }] }, undefined, 0, 1000);
    expect(byIssuer.totalCount).toBeGreaterThan(5n);
    const byEmail = await compare(USER_TYPE, { email: seeded.emails.find((e) => e !== "")! }, undefined, 0, 1000);
    expect(byEmail.totalCount).toBeGreaterThan(0n);
    expect((await compare(SESSION_TYPE, undefined, "DPOP", 0, 1000)).totalCount).toBeGreaterThan(5n);
  });

  if (storage === "memory") {
    it("refuses $not with the server's code (memory storage does not support it)", async () => {
      const filter = { $not: { user_id: "alice" } };
      const remote = await target.writer.query({ type: SESSION_TYPE, filter, limit: 10n }).catch((e: unknown) => e);
      let local: unknown;
      try {
        cache.query(SESSION_TYPE, { filter, limit: 10 });
      } catch (e) {
        local = e;
      }
      expect(remote).toBeInstanceOf(ConnectError);
      expect(local).toBeInstanceOf(ConnectError);
      expect((local as ConnectError).code).toBe((remote as ConnectError).code);
    });
  }
});
