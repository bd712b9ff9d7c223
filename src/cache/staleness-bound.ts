/**
 * How stale the cache may be, known at every read: the time since each mirrored type's stream
 * last showed it was caught up. A stream counts as caught up:
 * - when its snapshot is in (as of the moment the snapshot was asked for),
 * - at each message it receives while live (changes are pushed as they commit: Sync with
 *   wait=true has no heartbeats, so a quiet stream sends nothing),
 * - when a probe (a ServerInfo call on the same connection) sent while it was live is answered
 *   while it is still live on the same URL (as of the moment the probe was sent).
 * The cache's staleness is that of its stalest stream; before every stream was caught up once
 * it is unknown (treated as past any bound).
 *
 * Probes run only when a bound is set, and only for streams quiet for a probe interval: at most
 * one in flight, each with a deadline of one interval. A probe is a unary call, not an HTTP/2
 * PING, so Pomerium's keepalive enforcement (pings no more often than every 5 minutes) does not
 * count it.
 *
 * What the figure bounds: the silence of the link. A change committed on the server reaches the
 * replica within one network trip of a confirmation; a server that accepts calls but stops
 * pushing one stream's changes is not caught by a probe (the periodic stream refresh restarts
 * every live stream, and `idleTimeoutMs` reconnects a silent one).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { MAX_TIMER_DELAY_MS } from "../transport/max-timer-delay.js";

/** The shortest probe interval: probing faster would put more load on the server than it tells. */
export const MIN_STALENESS_PROBE_INTERVAL_MS = 10;

export interface StalenessBoundOptions {
  /** Reads and identity checks fail closed past this; undefined = no bound (nothing probes). */
  readonly maxStalenessMs: number | undefined;
  /** How often quiet live streams are probed. */
  readonly probeIntervalMs: number;
  readonly now: () => number;
  /**
   * Sends one probe on the current connection (it may throw synchronously when there is none).
   * Resolves, once answered, to the streams it confirms: those live when it was sent and still
   * live on the same URL; rejects on failure or after `timeoutMs`.
   */
  readonly probe: (timeoutMs: number) => Promise<readonly string[]>;
  /** Streams that are live now (candidates for a probe). */
  readonly liveStreams: () => readonly string[];
  /** Called when the bound is crossed either way (so state$ can show it). */
  readonly onStaleChange: () => void;
}

type ProbeState = "idle" | "in-flight";

export class StalenessBound {
  readonly #options: StalenessBoundOptions;
  /** Per stream: the clock reading as of which it was last caught up. */
  readonly #caughtUpAt = new Map<string, number | undefined>();
  /** The oldest of #caughtUpAt (undefined while any stream was never caught up). */
  #oldest: number | undefined;
  #probe: ProbeState = "idle";
  #timer: NodeJS.Timeout | undefined;
  #wasStale = true;
  #closed = false;

  constructor(streams: readonly string[], options: StalenessBoundOptions) {
    this.#options = options;
    for (const s of streams) this.#caughtUpAt.set(s, undefined);
    if (options.maxStalenessMs !== undefined) this.#arm();
  }

  get maxStalenessMs(): number | undefined {
    return this.#options.maxStalenessMs;
  }

  /** The stream was caught up as of `at` (a clock reading); older readings never move it back. */
  confirm(stream: string, at: number): void {
    const held = this.#caughtUpAt.get(stream);
    if (!this.#caughtUpAt.has(stream) || (held !== undefined && held >= at)) return;
    this.#caughtUpAt.set(stream, at);
    let oldest: number | undefined = Number.POSITIVE_INFINITY;
    for (const v of this.#caughtUpAt.values()) {
      if (v === undefined) {
        oldest = undefined;
        break;
      }
      if (v < oldest) oldest = v;
    }
    this.#oldest = oldest;
    if (this.#wasStale && !this.isStale()) this.#staleChanged();
  }

  caughtUpAt(stream: string): number | undefined {
    return this.#caughtUpAt.get(stream);
  }

  /** Milliseconds since the stalest stream was last caught up; undefined before all were once. */
  stalenessMs(): number | undefined {
    const oldest = this.#oldest;
    return oldest === undefined ? undefined : Math.max(0, this.#options.now() - oldest);
  }

  /** True when a bound is set and exceeded (or nothing was ever caught up). Strict: at the bound is fresh. */
  isStale(): boolean {
    const max = this.#options.maxStalenessMs;
    if (max === undefined) return false;
    const oldest = this.#oldest;
    return oldest === undefined || this.#options.now() - oldest > max;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #staleChanged(): void {
    this.#wasStale = !this.#wasStale;
    this.#options.onStaleChange();
  }

  /** One timer per cache, every probe interval: probe quiet live streams, report a crossing. */
  #arm(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#tick();
      this.#arm();
    }, Math.min(this.#options.probeIntervalMs, MAX_TIMER_DELAY_MS));
    this.#timer.unref();
  }

  #tick(): void {
    if (this.isStale() !== this.#wasStale) this.#staleChanged();
    if (this.#probe === "in-flight") return;
    const now = this.#options.now();
    const interval = this.#options.probeIntervalMs;
    const quiet = this.#options.liveStreams().some((s) => {
      const at = this.#caughtUpAt.get(s);
      return at === undefined || now - at >= interval;
    });
    if (!quiet) return;
    let answered: Promise<readonly string[]>;
    try {
      answered = this.#options.probe(interval);
    } catch {
      return; // closed meanwhile, or no connection: the next tick tries again
    }
    this.#probe = "in-flight";
    answered.then(
      (confirmed) => {
        this.#probe = "idle";
        if (this.#closed) return;
        for (const s of confirmed) this.confirm(s, now);
      },
      () => {
        this.#probe = "idle";
      },
    );
  }
}

/** Checks `maxStalenessMs` and `stalenessProbeIntervalMs`; throws ConnectError InvalidArgument. */
export function resolveStalenessOptions(
  maxStalenessMs: unknown,
  probeIntervalMs: unknown,
): { readonly maxStalenessMs: number | undefined; readonly probeIntervalMs: number } {
  const positive = (name: string, value: unknown, min: number): number => {
    if (typeof value !== "number" || !(value >= min) || value > MAX_TIMER_DELAY_MS) {
      throw new ConnectError(`\`${name}\` must be a number of milliseconds from ${min} to ${MAX_TIMER_DELAY_MS}`, Code.InvalidArgument);
    }
    return value;
  };
  if (maxStalenessMs === undefined) {
    if (probeIntervalMs !== undefined) throw new ConnectError("`stalenessProbeIntervalMs` needs `maxStalenessMs`", Code.InvalidArgument);
    return { maxStalenessMs: undefined, probeIntervalMs: MAX_TIMER_DELAY_MS };
  }
  const max = positive("maxStalenessMs", maxStalenessMs, 1);
  const interval =
    probeIntervalMs === undefined
      ? Math.max(MIN_STALENESS_PROBE_INTERVAL_MS, Math.floor(max / 4))
      : positive("stalenessProbeIntervalMs", probeIntervalMs, MIN_STALENESS_PROBE_INTERVAL_MS);
  return { maxStalenessMs: max, probeIntervalMs: interval };
}
