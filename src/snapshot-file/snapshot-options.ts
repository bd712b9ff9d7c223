/** The `snapshot` option of createDatabrokerCache: a warm start from an encrypted local file. */
import { Code, ConnectError } from "@connectrpc/connect";
import { MAX_TIMER_DELAY_MS } from "../transport/max-timer-delay.js";

/**
 * When `ready()` resolves after a warm start:
 * - "caught-up" (the default): once every type has read the server's backlog since the
 *   snapshot, so changes and deletions (sign-outs) made while the process was down are applied
 *   before anyone reads;
 * - "snapshot": as soon as the snapshot is loaded; reads may then answer from the saved state
 *   (possibly a revoked session) until the backlog is read, moments later.
 */
export type SnapshotReadiness = "caught-up" | "snapshot";

export interface SnapshotOptions {
  /** The snapshot file. Its folder must exist; the file is written with mode 0600. */
  readonly path: string;
  /**
   * 32 bytes to encrypt the file under (e.g. from a KMS). Default: derived from `sharedSecret`
   * (HKDF-SHA256, fixed versioned label), so rotating the secret invalidates old snapshots.
   */
  readonly key?: Uint8Array;
  /** Write the snapshot this often when something changed (and on close). Default 5 minutes. */
  readonly intervalMs?: number;
  /** Ignore a snapshot older than this. Default 24 hours. */
  readonly maxAgeMs?: number;
  /** Default "caught-up"; see {@link SnapshotReadiness}. */
  readonly readiness?: SnapshotReadiness;
  /**
   * The name of a custom `projection` function, stored in the file: change it whenever the
   * function changes, so snapshots written with the old one are not loaded. Default "custom".
   */
  readonly projectionName?: string;
  /** The longest close() waits for the final write; past it the write is abandoned. Default 10 s. */
  readonly closeWriteTimeoutMs?: number;
}

export interface ResolvedSnapshotOptions {
  readonly path: string;
  readonly key: Uint8Array | undefined;
  readonly intervalMs: number;
  readonly maxAgeMs: number;
  readonly readiness: SnapshotReadiness;
  readonly projectionName: string;
  readonly closeWriteTimeoutMs: number;
}

export const DEFAULT_SNAPSHOT_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_SNAPSHOT_MAX_AGE_MS = 24 * 60 * 60_000;
export const DEFAULT_SNAPSHOT_CLOSE_WRITE_TIMEOUT_MS = 10_000;

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function timerMs(name: string, value: number | undefined, fallback: number): number {
  const ms = value ?? fallback;
  if (typeof ms !== "number" || !(ms > 0) || ms > MAX_TIMER_DELAY_MS) throw invalid(`\`snapshot.${name}\` must be a positive number of milliseconds, at most ${MAX_TIMER_DELAY_MS}`);
  return ms;
}

/** @throws ConnectError InvalidArgument */
export function resolveSnapshotOptions(options: SnapshotOptions): ResolvedSnapshotOptions {
  if (options === null || typeof options !== "object") throw invalid("`snapshot` must be an object with a `path`");
  if (typeof options.path !== "string" || options.path.length === 0) throw invalid("`snapshot.path` must be a file path");
  const readiness = options.readiness ?? "caught-up";
  if (readiness !== "caught-up" && readiness !== "snapshot") throw invalid('`snapshot.readiness` must be "caught-up" or "snapshot"');
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_SNAPSHOT_MAX_AGE_MS;
  if (typeof maxAgeMs !== "number" || !(maxAgeMs > 0)) throw invalid("`snapshot.maxAgeMs` must be a positive number of milliseconds");
  return {
    path: options.path,
    key: options.key,
    intervalMs: timerMs("intervalMs", options.intervalMs, DEFAULT_SNAPSHOT_INTERVAL_MS),
    maxAgeMs,
    readiness,
    projectionName: options.projectionName ?? "custom",
    closeWriteTimeoutMs: timerMs("closeWriteTimeoutMs", options.closeWriteTimeoutMs, DEFAULT_SNAPSHOT_CLOSE_WRITE_TIMEOUT_MS),
  };
}
