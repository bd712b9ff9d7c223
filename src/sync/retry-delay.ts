/**
 * How long the loop waits before the next attempt, by why it stopped (RetryKind in
 * sync-state-machine.ts): nothing before a resync (as Pomerium's own syncer, which runs
 * SyncLatest at once after ABORTED); a short jitter after a healthy stream ended; capped
 * full-jitter exponential backoff for failures, capped low for connection failures so a
 * databroker that comes back is used again within `maxReconnectDelayMs`; a fast-loop detector
 * that forces the long delay when resyncs or failures bunch up (a refused connection is cheap
 * for the server and already backs off, so it is not counted); and a long fixed delay for
 * authentication failures (a wrong secret does not fix itself quickly).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { MAX_TIMER_DELAY_MS } from "../transport/max-timer-delay.js";
import type { RetryKind } from "./sync-state-machine.js";

export interface RetryPolicy {
  /** Upper bound of the first retry's delay. Default 500 ms (as Pomerium's clients). */
  readonly initialDelayMs: number;
  /** No backoff delay exceeds this. Default 60 s (as Pomerium's clients). */
  readonly maxDelayMs: number;
  /**
   * No delay after a connection failure (refused, reset, unreachable, TLS, connect timeout)
   * exceeds this: after an outage, the databroker is used again at most this long after it is
   * back. Default 5 s.
   */
  readonly maxReconnectDelayMs: number;
  /** Fixed delay after UNAUTHENTICATED / PERMISSION_DENIED. Default 30 s. */
  readonly authRetryDelayMs: number;
  /**
   * This many resyncs or failed attempts within `fastLoopWindowMs` force a delay between half
   * `maxDelayMs` and `maxDelayMs`. A stream that ends cleanly after it was open for at least
   * `fastLoopWindowMs / fastLoopMaxRetries` was healthy: its end is not counted. Default 6.
   */
  readonly fastLoopMaxRetries: number;
  /** Default 30 s. */
  readonly fastLoopWindowMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 60_000,
  maxReconnectDelayMs: 5_000,
  authRetryDelayMs: 30_000,
  fastLoopMaxRetries: 6,
  fastLoopWindowMs: 30_000,
});

export function resolveRetryPolicy(overrides: Partial<RetryPolicy> | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY, ...overrides };
  const positive = (name: keyof RetryPolicy) => {
    const v = policy[name];
    if (!(typeof v === "number" && Number.isFinite(v) && v > 0)) {
      throw new ConnectError(`retry.${name} must be a positive number, got ${String(v)}`, Code.InvalidArgument);
    }
  };
  (Object.keys(DEFAULT_RETRY_POLICY) as Array<keyof RetryPolicy>).forEach(positive);
  // Both become timer delays (every other delay is at most maxDelayMs): a Node timer fires a
  // longer one at once, which would turn the backoff into a hot loop.
  for (const name of ["maxDelayMs", "authRetryDelayMs"] as const) {
    if (policy[name] > MAX_TIMER_DELAY_MS) {
      throw new ConnectError(`retry.${name} must be at most ${MAX_TIMER_DELAY_MS} ms, got ${policy[name]}`, Code.InvalidArgument);
    }
  }
  if (policy.maxDelayMs < policy.initialDelayMs) {
    throw new ConnectError("retry.maxDelayMs must be at least retry.initialDelayMs", Code.InvalidArgument);
  }
  return policy;
}

/**
 * Full jitter: uniform in [0, min(cap, initial * 2^(attempt-1))]. `attempt` counts from 1.
 * @param random a source in [0, 1)
 */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: () => number): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}

/** How long a stream must have been open for its clean end not to count as a failure. */
export function healthyStreamMs(policy: RetryPolicy): number {
  return policy.fastLoopWindowMs / policy.fastLoopMaxRetries;
}

/** Whether a retry of this kind counts toward the fast-loop detector. */
export function countsAsFastLoop(kind: RetryKind): boolean {
  return kind === "resync" || kind === "backoff";
}

/** Remembers when recent retries happened, to spot a loop that keeps failing fast. */
export class FastLoopDetector {
  private readonly times: number[] = [];

  constructor(private readonly policy: RetryPolicy) {}

  /** Records a retry at `now`; true when the window now holds too many of them. */
  record(now: number): boolean {
    this.times.push(now);
    while (this.times.length > 0 && this.times[0]! <= now - this.policy.fastLoopWindowMs) this.times.shift();
    return this.times.length >= this.policy.fastLoopMaxRetries;
  }
}

export type RetryDelayReason = RetryKind | "fast-loop";

/** The delay for the next retry and why it was chosen. */
export function retryDelay(
  kind: RetryKind,
  attempt: number,
  fastLoop: boolean,
  policy: RetryPolicy,
  random: () => number,
): { delayMs: number; reason: RetryDelayReason } {
  if (kind === "auth") return { delayMs: policy.authRetryDelayMs, reason: "auth" };
  // Half jitter at the cap: still spreads a fleet out, but never lets a loop spin fast.
  if (fastLoop) return { delayMs: Math.floor(policy.maxDelayMs / 2 + (random() * policy.maxDelayMs) / 2), reason: "fast-loop" };
  switch (kind) {
    case "resync":
      return { delayMs: 0, reason: kind };
    case "resume":
      return { delayMs: Math.floor(random() * policy.initialDelayMs), reason: kind };
    case "reconnect":
      return { delayMs: backoffDelayMs(attempt, { ...policy, maxDelayMs: Math.min(policy.maxDelayMs, policy.maxReconnectDelayMs) }, random), reason: kind };
    case "backoff":
      return { delayMs: backoffDelayMs(attempt, policy, random), reason: kind };
  }
}
