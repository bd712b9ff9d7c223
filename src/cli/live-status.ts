/**
 * The part `demo` and `mirror` share: a progress bar while the cache loads its first snapshots,
 * then the read loop and the live status until Ctrl-C (or --duration-ms).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { DatabrokerCache } from "../cache/databroker-cache.js";
import type { CacheState } from "../cache/cache-state.js";
import { SESSION_TYPE } from "../records/type-urls.js";
import { CliUsageError } from "./cli-error.js";
import type { DemoWriter } from "./demo-writer.js";
import { progressBar } from "./progress-bar.js";
import { SessionReadLoop } from "./session-read-loop.js";
import { aborted } from "./shutdown-signal.js";
import { StatusSampler } from "./status-sampler.js";
import { statusLine, statusScreen } from "./status-screen.js";

export interface LiveStatusOptions {
  readonly cache: DatabrokerCache;
  /** The first line of the TTY screen. */
  readonly title: string;
  /** Records expected in the first snapshots (sum over mirrored types), for the progress bar. */
  readonly expectedRecords: number;
  readonly writer?: DemoWriter;
  readonly lookupsPerSecond: number;
  readonly intervalMs: number;
  /** Aborted by Ctrl-C or --duration-ms. */
  readonly signal: AbortSignal;
  /** Give up waiting for the first snapshots after this long. */
  readonly readyTimeoutMs: number;
  /** Print one status sample after the sync, then return (demo --once). */
  readonly once?: boolean;
}

const PROGRESS_POLL_MS = 50;

export async function runLiveStatus(options: LiveStatusOptions): Promise<void> {
  const { cache, signal } = options;
  const out = process.stdout;
  // Subscribed before the first snapshot lands, so its record version is seen.
  const reads = cache.state.streams.some((s) => s.type === SESSION_TYPE) ? new SessionReadLoop(cache, options.lookupsPerSecond) : undefined;
  const sampler = new StatusSampler(cache, { ...(reads ? { reads } : {}), ...(options.writer ? { writer: options.writer } : {}) });
  try {
    const syncStarted = performance.now();
    await initialSync(options);
    if (signal.aborted) return;
    out.write(`${readyLine(cache.state, (performance.now() - syncStarted) / 1000)} (${(performance.now() / 1000).toFixed(2)} s after start)\n`);
    reads?.start();
    options.writer?.start();
    if (options.once === true) {
      out.write(`${statusLine(await sampler.sample(), options.writer?.counts)}\n`);
      return;
    }
    // The screen's title keeps saying where the cache started, for as long as it runs.
    const origin = startedFrom(cache.state);
    const screen = statusScreen(out, `${options.title}${origin === undefined ? "" : ` · ${origin}`}   (Ctrl-C to exit)`);
    const stop = aborted(signal);
    try {
      while (!signal.aborted) {
        screen.show(await sampler.sample(), options.writer?.counts);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([stop, new Promise((resolve) => (timer = setTimeout(resolve, options.intervalMs)))]);
        clearTimeout(timer);
      }
    } finally {
      screen.close();
    }
  } finally {
    reads?.stop();
    await options.writer?.stop();
    sampler.close();
  }
}

async function initialSync(options: LiveStatusOptions): Promise<void> {
  const { cache, signal } = options;
  const bar = progressBar(process.stdout, "initial sync", options.expectedRecords);
  const loaded = () => cache.state.streams.reduce((sum, s) => sum + (s.type === "" ? 0 : cache.size(s.type)), 0);
  const poll = setInterval(() => bar.update(loaded()), PROGRESS_POLL_MS);
  try {
    await cache.ready({ timeoutMs: options.readyTimeoutMs, signal });
    bar.finish();
  } catch (error) {
    if (signal.aborted) {
      bar.finish("interrupted");
      return;
    }
    process.stdout.write("\n");
    if (error instanceof ConnectError && error.code === Code.DeadlineExceeded) {
      throw new CliUsageError(`the cache was not ready after ${options.readyTimeoutMs / 1000} s: ${error.rawMessage}`);
    }
    throw error;
  } finally {
    clearInterval(poll);
  }
}

/** The line printed once the cache is ready: how it started (from the server, or resumed from a snapshot and how old). */
export function readyLine(state: CacheState, seconds: number): string {
  const origin = startedFrom(state);
  if (origin === undefined) return `cache ready: first snapshots loaded in ${seconds.toFixed(2)} s`;
  return `cache ready: ${origin}, caught up in ${seconds.toFixed(2)} s`;
}

/** "resumed from snapshot (age …)" when any type started from the snapshot file; undefined when all came from the server. */
export function startedFrom(state: CacheState): string | undefined {
  const resumed = state.streams.filter((s) => s.startedFrom === "snapshot");
  if (resumed.length === 0) return undefined;
  const ageMs = Math.max(...resumed.map((s) => s.snapshotAgeMs ?? 0));
  const which = resumed.length === state.streams.length ? "" : ` (${resumed.length} of ${state.streams.length} types)`;
  return `resumed from snapshot (age ${formatAge(ageMs)})${which}`;
}

function formatAge(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
