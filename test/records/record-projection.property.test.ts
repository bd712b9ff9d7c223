/**
 * The lean projection, over generated sessions (the demo generator and random ones): the decoded
 * result is the original with exactly the dropped fields cleared, validity is the same at every
 * clock instant (boundaries included), indexes on kept fields are the same, and no dropped secret
 * survives anywhere in the kept bytes.
 */
import { clone, create, equals, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ListValueSchema, TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SessionSchema, type Session } from "../../gen/session/session_pb.js";
import { DemoRecords } from "../../src/demo/demo-records.js";
import { extractIndexableFields, parseIndexableField } from "../../src/records/indexable-fields.js";
import { LEAN_REFRESH_TOKEN_PLACEHOLDER, leanProjection, leanProjectionTransient } from "../../src/records/record-projection.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { isSessionValid, sessionInvalidAfterMs } from "../../src/records/validity.js";
import { scanStringField } from "../../src/records/wire-scan.js";

const BASE = 1_900_000_000; // seconds, 2030
const timestamp: fc.Arbitrary<Timestamp | undefined> = fc.oneof(
  fc.constant(undefined),
  fc
    .record({
      seconds: fc.oneof(fc.integer({ min: BASE - 5, max: BASE + 5 }), fc.integer({ min: 31_535_990, max: 31_536_010 }), fc.constant(0)),
      nanos: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999_999 })),
    })
    .map(({ seconds, nanos }) => create(TimestampSchema, { seconds: BigInt(seconds), nanos })),
);

/** Secrets carry a marker so "does not appear in the bytes" cannot be satisfied by chance. */
const secret = (kind: string) => fc.string({ minLength: 0, maxLength: 40 }).map((s) => `${kind}-SECRET-${s}`);
const maybeSecret = (kind: string) => fc.oneof(fc.constant(""), secret(kind));
const text = fc.string({ maxLength: 12 });

const randomSession: fc.Arbitrary<Session> = fc
  .record({
    id: text,
    userId: text,
    idpId: text,
    expiresAt: timestamp,
    issuedAt: timestamp,
    accessedAt: timestamp,
    refreshDisabled: fc.boolean(),
    audience: fc.array(text, { maxLength: 3 }),
    impersonateSessionId: fc.option(text, { nil: undefined }),
    claims: fc.dictionary(text, fc.array(text, { maxLength: 3 }), { maxKeys: 3 }),
    idToken: fc.option(
      fc.record({ issuer: text, subject: text, expiresAt: timestamp, issuedAt: timestamp, raw: maybeSecret("raw") }),
      { nil: undefined },
    ),
    oauthToken: fc.option(
      fc.record({
        accessToken: maybeSecret("access"),
        tokenType: fc.constantFrom("", "Bearer"),
        expiresAt: timestamp,
        refreshToken: fc.oneof(fc.constant(""), fc.constant(LEAN_REFRESH_TOKEN_PLACEHOLDER), secret("refresh")),
      }),
      { nil: undefined },
    ),
  })
  .map(({ claims, ...rest }) => {
    const init: MessageInitShape<typeof SessionSchema> = {
      ...rest,
      claims: Object.fromEntries(
        Object.entries(claims).map(([k, vs]) => [k, create(ListValueSchema, { values: vs.map((value) => ({ kind: { case: "stringValue" as const, value } })) })]),
      ),
    };
    return create(SessionSchema, init);
  });

/** Demo sessions: realistic sizes (~1.8 KB), expiring anywhere from long ago to far ahead. */
const demoSession: fc.Arbitrary<Session> = fc
  .record({ seed: fc.integer({ min: 1, max: 1_000_000 }), ttlMs: fc.integer({ min: -30 * 3600_000, max: 30 * 3600_000 }), user: fc.nat(1000) })
  .map(({ seed, ttlMs, user }) => new DemoRecords({ seed, nowMs: BASE * 1000 }).session(`session-${seed}`, user, ttlMs));

const anySession = fc.oneof(randomSession, demoSession);

/** The original with what lean drops cleared: the decoded projection must equal this. */
function expectedLean(session: Session): Session {
  const out = clone(SessionSchema, session);
  if (out.idToken !== undefined) out.idToken.raw = "";
  if (out.oauthToken !== undefined) {
    out.oauthToken.accessToken = "";
    if (out.oauthToken.refreshToken !== "") out.oauthToken.refreshToken = LEAN_REFRESH_TOKEN_PLACEHOLDER;
  }
  return out;
}

function toMs(ts: Timestamp | undefined): number | undefined {
  return ts === undefined ? undefined : Number(ts.seconds) * 1000 + ts.nanos / 1e6;
}

/** Clock readings on, just before and just after every instant the session mentions. */
function boundaryInstants(session: Session): number[] {
  const out: number[] = [];
  for (const ms of [toMs(session.expiresAt), toMs(session.oauthToken?.expiresAt), toMs(session.idToken?.expiresAt)]) {
    if (ms === undefined) continue;
    out.push(ms, ms - 1, ms + 1, ms - 0.001, ms + 0.001, Math.floor(ms), Math.ceil(ms));
  }
  return out;
}

const nowMs = fc.oneof(
  fc.integer({ min: (BASE - 30 * 3600) * 1000, max: (BASE + 30 * 3600) * 1000 }),
  fc.integer({ min: 31_535_980_000, max: 31_536_020_000 }),
  fc.double({ min: (BASE - 6) * 1000, max: (BASE + 6) * 1000, noNaN: true }),
);

const INDEX_PATHS = ["id", "user_id", "idp_id", "impersonate_session_id", "id_token.issuer", "id_token.subject", "oauth_token.token_type", "claims.email"].map(
  parseIndexableField,
);

function lean(bytes: Uint8Array): Uint8Array {
  return leanProjection(SESSION_TYPE, bytes);
}

function contains(haystack: Uint8Array, needle: string): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).includes(Buffer.from(needle, "utf8"));
}

describe("lean projection of sessions (property)", () => {
  it("decodes to the original with id_token.raw and access_token cleared and a non-empty refresh_token replaced by the placeholder", () => {
    fc.assert(
      fc.property(anySession, (session) => {
        const projected = fromBinary(SessionSchema, lean(toBinary(SessionSchema, session)));
        expect(equals(SessionSchema, projected, expectedLean(session))).toBe(true);
      }),
      { numRuns: 1500, seed: 5 },
    );
  });

  it("gives the same validity answer at random clock instants and on every boundary", () => {
    fc.assert(
      fc.property(anySession, fc.array(nowMs, { maxLength: 5 }), (session, randomInstants) => {
        const projected = fromBinary(SessionSchema, lean(toBinary(SessionSchema, session)));
        expect(sessionInvalidAfterMs(projected)).toBe(sessionInvalidAfterMs(session));
        for (const now of [...boundaryInstants(session), ...randomInstants]) {
          const clock = { now: () => now };
          expect(isSessionValid(projected, clock)).toBe(isSessionValid(session, clock));
        }
      }),
      { numRuns: 1500, seed: 11 },
    );
  });

  it("keeps index keys (user_id and indexable fields on kept fields) identical", () => {
    fc.assert(
      fc.property(anySession, (session) => {
        const bytes = toBinary(SessionSchema, session);
        const projected = lean(bytes);
        expect(scanStringField(projected, 3)).toEqual(scanStringField(bytes, 3));
        expect(extractIndexableFields(SessionSchema, projected, INDEX_PATHS)).toEqual(extractIndexableFields(SessionSchema, bytes, INDEX_PATHS));
      }),
      { numRuns: 1000, seed: 17 },
    );
  });

  it("leaves no byte sequence of a dropped secret anywhere in the kept bytes", () => {
    fc.assert(
      fc.property(anySession, (session) => {
        const projected = lean(toBinary(SessionSchema, session));
        const secrets = [session.idToken?.raw, session.oauthToken?.accessToken, session.oauthToken?.refreshToken].filter(
          (s): s is string => s !== undefined && s.length > 1,
        );
        for (const s of secrets) expect(contains(projected, s)).toBe(false);
      }),
      { numRuns: 1500, seed: 23 },
    );
  });

  it("projects merged encodings (a message repeated, last value wins) like the merged message", () => {
    fc.assert(
      fc.property(anySession, anySession, (a, b) => {
        // Concatenated encodings decode as a merge: the projection must follow the same rule.
        const bytes = new Uint8Array([...toBinary(SessionSchema, a), ...toBinary(SessionSchema, b)]);
        const merged = fromBinary(SessionSchema, bytes);
        const projected = lean(bytes);
        expect(equals(SessionSchema, fromBinary(SessionSchema, projected), expectedLean(merged))).toBe(true);
        for (const now of boundaryInstants(merged)) {
          const clock = { now: () => now };
          expect(isSessionValid(fromBinary(SessionSchema, projected), clock)).toBe(isSessionValid(merged, clock));
        }
        for (const s of [a, b]) for (const secretValue of [s.idToken?.raw, s.oauthToken?.accessToken, s.oauthToken?.refreshToken]) {
          if (secretValue !== undefined && secretValue.length > 1) expect(contains(projected, secretValue)).toBe(false);
        }
      }),
      { numRuns: 500, seed: 29 },
    );
  });

  it("writes the same bytes without allocating the result (transient variant), also across calls of different sizes", () => {
    fc.assert(
      fc.property(fc.array(anySession, { minLength: 1, maxLength: 4 }), (batch) => {
        for (const session of batch) {
          const bytes = toBinary(SessionSchema, session);
          const expected = lean(bytes);
          const transient = leanProjectionTransient(SESSION_TYPE, bytes);
          expect(Array.from(transient)).toEqual(Array.from(expected));
          if (expected === bytes) expect(transient).toBe(bytes);
        }
      }),
      { numRuns: 500, seed: 37 },
    );
  });

  it("is idempotent: projecting a projection returns the very same array", () => {
    fc.assert(
      fc.property(anySession, (session) => {
        const once = lean(toBinary(SessionSchema, session));
        expect(lean(once)).toBe(once);
      }),
      { numRuns: 1000, seed: 31 },
    );
  });
});
