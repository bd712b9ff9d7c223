import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_RETRY_POLICY,
  FastLoopDetector,
  backoffDelayMs,
  resolveRetryPolicy,
  retryDelay,
} from "../../src/sync/retry-delay.js";

describe("retry delays", () => {
  it("uses Pomerium's client defaults: 500 ms first ceiling, 60 s cap", () => {
    expect(DEFAULT_RETRY_POLICY.initialDelayMs).toBe(500);
    expect(DEFAULT_RETRY_POLICY.maxDelayMs).toBe(60_000);
  });

  it("keeps every full-jitter delay within [0, min(cap, initial * 2^(attempt-1))]", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const d = backoffDelayMs(attempt, DEFAULT_RETRY_POLICY, () => r);
        const ceiling = Math.min(60_000, 500 * 2 ** (attempt - 1));
        return d >= 0 && d <= ceiling && Number.isInteger(d);
      }),
    );
  });

  it("doubles the ceiling per attempt until the cap", () => {
    const top = () => 0.9999999;
    expect([1, 2, 3, 4, 8, 30].map((a) => backoffDelayMs(a, DEFAULT_RETRY_POLICY, top))).toEqual([499, 999, 1999, 3999, 59_999, 59_999]);
  });

  it("waits the long fixed delay after an authentication failure, whatever the attempt", () => {
    expect(retryDelay("auth", 1, false, DEFAULT_RETRY_POLICY, Math.random)).toEqual({ delayMs: 30_000, reason: "auth" });
    expect(retryDelay("auth", 40, true, DEFAULT_RETRY_POLICY, Math.random).delayMs).toBe(30_000);
  });

  it("forces a delay between half the cap and the cap when the loop runs fast", () => {
    expect(retryDelay("backoff", 1, true, DEFAULT_RETRY_POLICY, () => 0)).toEqual({ delayMs: 30_000, reason: "fast-loop" });
    expect(retryDelay("backoff", 1, true, DEFAULT_RETRY_POLICY, () => 0.9999999).delayMs).toBe(59_999);
  });

  it("detects too many retries inside the window, and forgets retries that fell out of it", () => {
    const detector = new FastLoopDetector({ ...DEFAULT_RETRY_POLICY, fastLoopMaxRetries: 3, fastLoopWindowMs: 1000 });
    expect(detector.record(0)).toBe(false);
    expect(detector.record(100)).toBe(false);
    expect(detector.record(200)).toBe(true);
    expect(detector.record(1150)).toBe(false); // 0 and 100 have left the window
    expect(detector.record(1160)).toBe(true);
  });

  it("refuses nonsensical policies with a clear error", () => {
    expect(() => resolveRetryPolicy({ initialDelayMs: 0 })).toThrow(/initialDelayMs/);
    expect(() => resolveRetryPolicy({ maxDelayMs: 10, initialDelayMs: 100 })).toThrow(/maxDelayMs/);
    expect(() => resolveRetryPolicy({ authRetryDelayMs: Number.NaN })).toThrow(/authRetryDelayMs/);
    expect(resolveRetryPolicy({ maxDelayMs: 5000 })).toMatchObject({ initialDelayMs: 500, maxDelayMs: 5000 });
  });
});
