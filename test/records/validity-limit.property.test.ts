/**
 * The precomputed limit the replica's hot reads use must give exactly isSessionValid's /
 * isServiceAccountValid's answer, for any timestamps (unset, around 1970, sub-millisecond nanos)
 * and any clock reading, boundaries included.
 */
import { create } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { ServiceAccountSchema } from "../../gen/user/user_pb.js";
import {
  isServiceAccountValid,
  isSessionValid,
  serviceAccountInvalidAfterMs,
  sessionInvalidAfterMs,
} from "../../src/records/validity.js";

const BASE = 1_900_000_000; // seconds, 2030
const timestamp: fc.Arbitrary<Timestamp | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.record({
    seconds: fc.oneof(
      fc.integer({ min: BASE - 5, max: BASE + 5 }).map(BigInt),
      fc.integer({ min: 31_535_990, max: 31_536_010 }).map(BigInt),
      fc.constant(0n),
      // Any int64, negative and beyond 2^53 included (the limit converts seconds to a double once).
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    ),
    nanos: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999_999 })),
  }).map(({ seconds, nanos }) => create(TimestampSchema, { seconds, nanos })),
);
/** Clock readings on and around the interesting instants, in ms. */
const nowMs = fc.oneof(
  fc.integer({ min: (BASE - 6) * 1000, max: (BASE + 6) * 1000 }),
  fc.integer({ min: 31_535_980_000, max: 31_536_020_000 }),
  fc.integer({ min: (BASE - 6) * 1000, max: (BASE + 6) * 1000 }).map((ms) => ms + 0.5),
);

describe("precomputed validity limits", () => {
  it("say invalid exactly when isSessionValid does", () => {
    fc.assert(
      fc.property(
        timestamp,
        fc.option(fc.record({ expiresAt: timestamp, refreshToken: fc.constantFrom("", "refresh") }), { nil: undefined }),
        fc.boolean(),
        nowMs,
        (expiresAt, token, refreshDisabled, now) => {
          const session = create(SessionSchema, { id: "s", expiresAt, refreshDisabled, oauthToken: token });
          const clock = { now: () => now };
          expect(!(now > sessionInvalidAfterMs(session))).toBe(isSessionValid(session, clock));
        },
      ),
      { numRuns: 2000, seed: 42 },
    );
  });

  it("say invalid exactly when isServiceAccountValid does", () => {
    fc.assert(
      fc.property(timestamp, nowMs, (expiresAt, now) => {
        const account = create(ServiceAccountSchema, { id: "sa", expiresAt });
        expect(!(now > serviceAccountInvalidAfterMs(account))).toBe(isServiceAccountValid(account, { now: () => now }));
      }),
      { numRuns: 1000, seed: 7 },
    );
  });
});
