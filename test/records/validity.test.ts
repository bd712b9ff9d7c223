import { create } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { OAuthTokenSchema, SessionSchema } from "../../gen/session/session_pb.js";
import { ServiceAccountSchema } from "../../gen/user/user_pb.js";
import type { Clock } from "../../src/records/clock.js";
import { isServiceAccountValid, isSessionValid } from "../../src/records/validity.js";

const T = Date.UTC(2026, 10, 28, 12, 0, 0);
const at = (ms: number): Clock => ({ now: () => ms });
const ts = (seconds: bigint, nanos = 0): Timestamp => ({ ...timestampFromMs(0), seconds, nanos });

describe("Session validity (Pomerium's Session.Validate)", () => {
  it("is valid with no expiry at all", () => {
    expect(isSessionValid(create(SessionSchema, { id: "s" }), at(T))).toBe(true);
  });

  it("is valid while expires_at is now or later, invalid one millisecond after", () => {
    const s = create(SessionSchema, { expiresAt: timestampFromMs(T) });
    expect(isSessionValid(s, at(T - 1))).toBe(true);
    expect(isSessionValid(s, at(T))).toBe(true); // Go: now.After(t) is strict
    expect(isSessionValid(s, at(T + 1))).toBe(false);
  });

  it("treats an expires_at in 1970 or earlier as unset", () => {
    expect(isSessionValid(create(SessionSchema, { expiresAt: ts(31_535_999n, 999_999_999) }), at(T))).toBe(true);
    expect(isSessionValid(create(SessionSchema, { expiresAt: ts(-5n) }), at(T))).toBe(true);
    expect(isSessionValid(create(SessionSchema, { expiresAt: ts(0n) }), at(T))).toBe(true);
  });

  it("treats 1971-01-01T00:00:00Z as set", () => {
    expect(isSessionValid(create(SessionSchema, { expiresAt: ts(31_536_000n) }), at(T))).toBe(false);
  });

  it("honours nanoseconds at the boundary", () => {
    const s = create(SessionSchema, { expiresAt: { ...timestampFromMs(T), nanos: 500_000 } }); // T + 0.5 ms
    expect(isSessionValid(s, at(T))).toBe(true);
    expect(isSessionValid(s, at(T + 1))).toBe(false);
  });

  it("an expired access token with a refresh token and refresh enabled stays valid", () => {
    const s = create(SessionSchema, {
      oauthToken: create(OAuthTokenSchema, { expiresAt: timestampFromMs(T - 1000), refreshToken: "r" }),
    });
    expect(isSessionValid(s, at(T))).toBe(true);
  });

  it("an expired access token without a refresh token is invalid", () => {
    const s = create(SessionSchema, { oauthToken: create(OAuthTokenSchema, { expiresAt: timestampFromMs(T - 1000) }) });
    expect(isSessionValid(s, at(T))).toBe(false);
    expect(isSessionValid(s, at(T - 1000))).toBe(true); // exactly at expiry: not yet past
  });

  it("an expired access token with refresh disabled is invalid even with a refresh token", () => {
    const s = create(SessionSchema, {
      refreshDisabled: true,
      oauthToken: create(OAuthTokenSchema, { expiresAt: timestampFromMs(T - 1000), refreshToken: "r" }),
    });
    expect(isSessionValid(s, at(T))).toBe(false);
  });

  it("an access token without expires_at never invalidates the session", () => {
    const s = create(SessionSchema, { refreshDisabled: true, oauthToken: create(OAuthTokenSchema, { accessToken: "a" }) });
    expect(isSessionValid(s, at(T))).toBe(true);
  });
});

describe("ServiceAccount validity", () => {
  it("is invalid only once expires_at is set and past", () => {
    expect(isServiceAccountValid(create(ServiceAccountSchema, {}), at(T))).toBe(true);
    const sa = create(ServiceAccountSchema, { expiresAt: timestampFromMs(T) });
    expect(isServiceAccountValid(sa, at(T))).toBe(true);
    expect(isServiceAccountValid(sa, at(T + 1))).toBe(false);
    expect(isServiceAccountValid(create(ServiceAccountSchema, { expiresAt: ts(86_400n) }), at(T))).toBe(true);
  });
});
