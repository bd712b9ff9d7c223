/**
 * `projection: "lean"` end to end, against a real in-memory databroker: a lean cache and a full
 * cache mirror the same data; the lean one holds none of the dropped secrets, yet answers
 * getSession (at every validity boundary), indexes, userByEmail and local queries exactly as the
 * full one; getConsistent's server fallback is projected the same way.
 */
import { clone, create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OptionsSchema, type Record as DatabrokerRecord } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema, type Session } from "../../gen/session/session_pb.js";
import { DemoRecords } from "../../src/demo/demo-records.js";
import { LEAN_REFRESH_TOKEN_PLACEHOLDER, leanProjection, SESSION_TYPE, USER_TYPE, versionOfWrite, type DatabrokerCache } from "../../src/index.js";
import { recordBytes } from "../../src/replica/cached-record.js";
import type { LocalQueryRequest } from "../../src/replica/replica.js";
import { Cleanups, cacheFor, startServer, until, writer } from "./cache-fixtures.js";

const NOW = Date.UTC(2030, 0, 1);
const SESSIONS = 120;
const USERS = 12;

const cleanups = new Cleanups();
let db: ReturnType<typeof writer>;
let serverUrl: string;
let serverVersion: bigint;
let full: DatabrokerCache;
let lean: DatabrokerCache;
const sessions: Session[] = [];
let clockMs = NOW;
const clock = { now: () => clockMs };

/** Demo sessions with varied lifetimes, plus tokens that expire with and without a refresh token. */
function makeSessions(): Session[] {
  const demo = new DemoRecords({ seed: 3, nowMs: NOW });
  const out: Session[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const s = demo.session(`s${i}`, i % USERS, ((i % 7) - 3) * 3600_000 + 1);
    if (i % 5 === 0 && s.oauthToken !== undefined) {
      s.oauthToken.refreshToken = "";
      s.oauthToken.expiresAt = timestampFromMs(NOW + ((i % 3) - 1) * 60_000);
    }
    if (i % 11 === 0) s.refreshDisabled = true;
    out.push(s);
  }
  return out;
}

function instantsOf(s: Session): number[] {
  const out: number[] = [];
  for (const ts of [s.expiresAt, s.oauthToken?.expiresAt]) {
    if (ts === undefined) continue;
    const ms = Number(ts.seconds) * 1000 + ts.nanos / 1e6;
    out.push(ms - 1, ms, ms + 1);
  }
  return out;
}

beforeAll(async () => {
  const server = await startServer(cleanups);
  serverUrl = server.url;
  serverVersion = server.serverVersion;
  db = writer(server.url);
  await db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: ["user_id", "idp_id", "id_token.issuer"] }) });
  const demo = new DemoRecords({ seed: 3, nowMs: NOW });
  const users: DatabrokerRecord[] = Array.from({ length: USERS }, (_, n) => DemoRecords.record(demo.user(n)));
  sessions.push(...makeSessions());
  const put = await db.put({ records: [...users, ...sessions.map((s) => DemoRecords.record(s))] });
  const version = versionOfWrite(put);
  full = cacheFor(cleanups, server.url, { clock });
  lean = cacheFor(cleanups, server.url, { clock, projection: "lean" });
  for (const cache of [full, lean]) {
    await cache.ready({ timeoutMs: 10_000 });
    await cache.waitForVersion(version, { type: SESSION_TYPE, timeoutMs: 10_000 });
  }
});
afterAll(() => cleanups.run());

describe('projection: "lean"', () => {
  it("holds none of the dropped secrets' bytes, and far fewer bytes per session", () => {
    let fullBytes = 0;
    let leanBytes = 0;
    for (const s of sessions) {
      const kept = Buffer.from(recordBytes(lean.get(SESSION_TYPE, s.id)!));
      for (const secret of [s.idToken!.raw, s.oauthToken!.accessToken, s.oauthToken!.refreshToken]) {
        if (secret.length > 1) expect(kept.includes(Buffer.from(secret))).toBe(false);
      }
      leanBytes += kept.length;
      fullBytes += full.get(SESSION_TYPE, s.id)!.dataLength;
    }
    // Byte counts of fixed demo data: the same on any machine.
    expect(leanBytes, `bytes kept by the lean cache vs 40% of the full cache's ${fullBytes}`).toBeLessThan(fullBytes * 0.4);
  });

  it("decodes each session to the full one with the dropped fields cleared and the refresh placeholder", () => {
    // The replica gets the transient lean projection (a reused buffer): this also proves it copies
    // each record's bytes before projecting the next one.
    for (const s of sessions) {
      const fromFull = full.getSession(s.id, { includeInvalid: true })!;
      const fromLean = lean.getSession(s.id, { includeInvalid: true })!;
      const expected = clone(SessionSchema, fromFull); // cached messages are frozen: change a copy
      expected.idToken!.raw = "";
      expected.oauthToken!.accessToken = "";
      if (expected.oauthToken!.refreshToken !== "") expected.oauthToken!.refreshToken = LEAN_REFRESH_TOKEN_PLACEHOLDER;
      expect(equals(SessionSchema, fromLean, expected)).toBe(true);
      expect(equals(SessionSchema, full.getSession(s.id, { includeInvalid: true })!, s), `${s.id} in the full cache is still the session written`).toBe(true);
    }
  });

  it("gives getSession's validity answer of the full cache at every expiry boundary", () => {
    let invalidSeen = 0;
    try {
      for (const s of sessions) {
        for (const at of [NOW, ...instantsOf(s)]) {
          clockMs = at;
          const answer = full.getSession(s.id) !== undefined;
          if (!answer) invalidSeen++;
          expect(lean.getSession(s.id) !== undefined, `${s.id} at ${at}`).toBe(answer);
        }
      }
    } finally {
      clockMs = NOW;
    }
    // The data set exercises both answers, including tokens that expired without a refresh token.
    expect(invalidSeen).toBeGreaterThan(SESSIONS / 4);
  });

  it("answers indexes, userByEmail and local queries on kept fields exactly as the full cache", () => {
    for (let u = 0; u < USERS; u++) {
      expect([...lean.sessionsByUser(`user-${u}`)].sort()).toEqual([...full.sessionsByUser(`user-${u}`)].sort());
      const email = full.getUser(`user-${u}`)!.email;
      expect(lean.userByEmail(email)).toEqual(full.userByEmail(email));
    }
    for (const idp of ["idp-0", "idp-1", "idp-2"]) expect([...lean.byIndex(SESSION_TYPE, "idp_id", idp)].sort()).toEqual([...full.byIndex(SESSION_TYPE, "idp_id", idp)].sort());
    const issuer = sessions[0]!.idToken!.issuer;
    const requests: LocalQueryRequest[] = [
      { filter: { user_id: "user-1" }, limit: 1000 },
      { filter: { "id_token.issuer": issuer }, limit: 1000 },
      { filter: { $or: [{ idp_id: "idp-2" }, { id: "s7" }] }, limit: 1000 },
      { query: "engineering", limit: 1000 },
      { query: "department-", limit: 5, offset: 3 },
      { query: "example.net", limit: 1000 },
    ];
    for (const request of requests) {
      const a = full.query(SESSION_TYPE, request);
      const b = lean.query(SESSION_TYPE, request);
      expect(b.totalCount).toBe(a.totalCount);
      expect(b.records.map((r) => r.id)).toEqual(a.records.map((r) => r.id));
      expect(a.totalCount, JSON.stringify(request)).toBeGreaterThan(0n);
    }
  });

  it("projects getConsistent's server answers the same way", async () => {
    // A lean cache mirroring users only: a session read always goes to the server.
    const cache = cacheFor(cleanups, serverUrl, { types: [USER_TYPE], projection: "lean" });
    await cache.ready({ timeoutMs: 10_000 });
    const s = sessions[1]!;
    const read = await cache.getConsistent(SESSION_TYPE, s.id);
    expect(read.source).toBe("server");
    const kept = Buffer.from(recordBytes(read.record!));
    expect(kept.includes(Buffer.from(s.oauthToken!.accessToken))).toBe(false);
    expect(kept.includes(Buffer.from(s.idToken!.raw))).toBe(false);
    expect(equals(SessionSchema, read.record!.message as Session, lean.getSession(s.id, { includeInvalid: true })!)).toBe(true);
  });

  it("takes a host function (here: lean, and users skipped), and a throwing function skips the record like malformed data", async () => {
    const cache = cacheFor(cleanups, serverUrl, {
      projection: (typeUrl, data) => {
        if (typeUrl === USER_TYPE) throw new Error("users are not wanted here");
        return leanProjection(typeUrl, data);
      },
    });
    await cache.ready({ timeoutMs: 10_000 });
    await until(() => cache.size(SESSION_TYPE) === SESSIONS, "sessions synced");
    expect(cache.size(USER_TYPE)).toBe(0);
    const s = sessions[2]!;
    expect(Buffer.from(recordBytes(cache.get(SESSION_TYPE, s.id)!)).includes(Buffer.from(s.idToken!.raw))).toBe(false);
    await expect(cache.getConsistent(USER_TYPE, "user-1", { minVersion: { serverVersion, recordVersion: 1n << 60n } })).resolves.toEqual({ source: "server", record: undefined });
  });

  it("skips records for which a host function returns something other than bytes, and counts them as malformed", async () => {
    const warnings: string[] = [];
    const cache = cacheFor(cleanups, serverUrl, {
      types: [USER_TYPE],
      projection: ((_typeUrl: string, data: Uint8Array) => (data.length > 0 ? "not bytes" : data)) as never,
      logger: { warn: (message) => warnings.push(message) },
    });
    await cache.ready({ timeoutMs: 10_000 });
    expect(cache.size(USER_TYPE)).toBe(0);
    expect(warnings.filter((w) => w.includes("malformed")).length).toBe(USERS);
  });

  it("applies to live changes too: an updated session is projected before it is stored", async () => {
    const updated = new DemoRecords({ seed: 99, nowMs: NOW }).session("s-live", 1);
    const v = versionOfWrite(await db.put({ records: [DemoRecords.record(updated)] }));
    await lean.waitForVersion(v, { type: SESSION_TYPE, timeoutMs: 5000 });
    const kept = recordBytes(lean.get(SESSION_TYPE, "s-live")!);
    expect(Buffer.from(kept).includes(Buffer.from(updated.oauthToken!.refreshToken))).toBe(false);
    expect(fromBinary(SessionSchema, kept).userId).toBe("user-1");
    expect(kept.length, "bytes kept of the updated session vs half its full size").toBeLessThan(toBinary(SessionSchema, updated).length / 2);
  });
});
