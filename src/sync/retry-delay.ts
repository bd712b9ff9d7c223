/**
 * How long the loop waits before the next attempt: capped full-jitter exponential backoff,
 * a fast-loop detector that forces the cap when retries bunch up, and a long fixed delay for
 * authentication failures (a wrong secret does not fix itself quickly).
 */
import { Code, ConnectError } from "@connectrpc/connect";

export interface RetryPolicy {
  /** Upper bound of the first retry's delay. Default 500 ms (as Pomerium's clients). */
  readonly initialDelayMs: number;
  /** No delay exceeds this. Default 60 s (as Pomerium's clients). */
  readonly maxDelayMs: number;
  /** Fixed delay after UNAUTHENTICATED / PERMISSION_DENIED. Default 30 s. */
  readonly authRetryDelayMs: number;
  /** This many retries within `fastLoopWindowMs` force the capped delay. Default 6. */
  readonly fastLoopMaxRetries: number;
  /** Default 30 s. */
  readonly fastLoopWindowMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 60_000,
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

export type RetryDelayReason = "backoff" | "fast-loop" | "auth";

/** The delay for the next retry and why it was chosen. */
export function retryDelay(
  kind: "backoff" | "auth",
  attempt: number,
  fastLoop: boolean,
  policy: RetryPolicy,
  random: () => number,
): { delayMs: number; reason: RetryDelayReason } {
  if (kind === "auth") return { delayMs: policy.authRetryDelayMs, reason: "auth" };
  // Half jitter at the cap: still spreads a fleet out, but never lets a loop spin fast.
  if (fastLoop) return { delayMs: Math.floor(policy.maxDelayMs / 2 + (random() * policy.maxDelayMs) / 2), reason: "fast-loop" };
  return { delayMs: backoffDelayMs(attempt, policy, random), reason: "backoff" };
}
