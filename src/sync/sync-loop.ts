/**
 * The sync loop: drives the state machine (sync-state-machine.ts) with real streams and
 * timers, feeds what it reads into its replica target, and publishes a state stream.
 *
 * SyncLatest streams into the target's snapshot builder batch by batch and completes in slices;
 * the swap happens in the same step as the move to Sync. Sync then runs from
 * (server_version, record_version) with wait=true, and each batch of changes that arrive
 * together is applied to the target in the step that advances the position: if the target
 * refuses it, the position is not taken and the type resyncs. Every gap heals through
 * backing-off: ABORTED, a server-side CANCELLED and a refusal resync from SyncLatest at once, an
 * ended or idle stream and connection errors resume Sync (a connection error also moves to the
 * next URL), and an authentication failure retries after a long fixed delay. A live stream is
 * restarted every `refresh.intervalMs` from the position it held that long (plus a grace) ago,
 * which catches commits that became visible after the stream passed their version, brings the
 * type's current options, and turns a stream that fell behind a compaction into ABORTED.
 *
 * Each effect (one stream, or one timer) belongs to one epoch of the machine; inputs from an
 * older epoch are dropped, and leaving the epoch unsubscribes the effect, which aborts its
 * stream and clears its timers. Inputs are processed one at a time from a queue, so an input
 * produced while another is being handled never re-enters the machine, and nothing a step
 * throws escapes into a timer: it is reported and the stream backs off.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BehaviorSubject, EMPTY, Observable, Subscription, map, merge, timer } from "rxjs";
import type { Options, SyncLatestResponse, SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { rawRecordView } from "../replica/raw-record.js";
import type { RawRecord, ReplicaEvent } from "../replica/replica-events.js";
import { PositionHistory } from "./position-history.js";
import type { ReplicaTarget } from "./replica-target.js";
import { FastLoopDetector, countsAsFastLoop, healthyStreamMs, resolveRetryPolicy, retryDelay, type RetryPolicy } from "./retry-delay.js";
import { SNAPSHOT_SLICE_MS, type SnapshotSink, type SnapshotSwap } from "./snapshot-sink.js";
import { streamErrorEvent } from "./stream-error-events.js";
import { readStream, type LoopInput, type StreamReaderOptions } from "./stream-reader.js";
import {
  INITIAL_SYNC_STATE,
  transition,
  type SyncState,
  type SyncStateName,
} from "./sync-state-machine.js";
import type { SyncSourceProvider, SyncStreamSource } from "./sync-stream-source.js";
import { elapsedInTurn } from "./turn-budget.js";
import type { ClusterSyncMode } from "./cluster-options.js";
import { MAX_TIMER_DELAY_MS } from "../transport/max-timer-delay.js";

/** Sync has no heartbeats, so a quiet databroker is normal: only a long silence is suspicious. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_MAX_BATCH_SIZE = 1024;
/** As Pomerium's grpc_client_timeout default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_REFRESH_INTERVAL_MS = 60_000;
export const DEFAULT_LATE_COMMIT_GRACE_MS = 10_000;

/** How a live Sync stream is re-read (see the module comment). */
export interface StreamRefreshOptions {
  /** Restart a live Sync stream this often. Default 60 s: the bound on late commits, options and compaction. */
  readonly intervalMs?: number;
  /**
   * How much later than its version's neighbours a commit may become visible and still be
   * caught (Postgres under concurrent writers); the re-read starts this much further back.
   * Default 10 s.
   */
  readonly lateCommitGraceMs?: number;
}

export interface SyncLoopOptions {
  /** The record type to mirror (a type URL), or "" for every type. */
  readonly type: string;
  readonly source: SyncSourceProvider;
  /** Where snapshots and changes go (the replica). */
  readonly replica: ReplicaTarget;
  /** Reconnect when an open stream has been silent this long. Default 10 minutes. */
  readonly idleTimeoutMs?: number;
  /** Give up on a connection attempt after this long and try the next URL. Default 10 s. */
  readonly connectTimeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Largest change batch; a longer burst is split. Default 1024. */
  readonly maxBatchSize?: number;
  /** Aborting it closes the loop. */
  readonly signal?: AbortSignal;
  /** Called once when the loop closes (e.g. to close the transports it used). */
  readonly onClose?: () => void;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly refresh?: StreamRefreshOptions;
  /** Told about an exception the loop caught in its own step (a bug, never the server's fault). */
  readonly onInternalError?: (error: unknown) => void;
  /**
   * A clustered databroker: check the stream's node this often while live (see
   * SyncStreamSource.checkNode). A live stream on a node that lost its leader, or whose leader
   * changed, never ends by itself; the check ends it. Unset: no checks.
   */
  readonly nodeCheckIntervalMs?: number;
}

/** A snapshot of the loop's condition, for dashboards, readiness checks and logs. */
export interface SyncStatus {
  readonly state: SyncStateName;
  /** The URL of the databroker in use (or last used). */
  readonly url: string | undefined;
  readonly serverVersion: bigint | undefined;
  readonly recordVersion: bigint;
  /** Consecutive retries since the last real progress. */
  readonly attempt: number;
  readonly lastError: string | undefined;
  readonly lastMessageAt: number | undefined;
  /** While backing-off: how long until the next attempt. */
  readonly retryInMs: number | undefined;
  /**
   * True once the loop has been current with the server: a snapshot completed, or (started from
   * a saved position) the first Sync from it delivered the whole backlog. Sticky.
   */
  readonly caughtUp: boolean;
  /** The cluster request mode of the streams ("default" or "local"); undefined outside a cluster setting. */
  readonly requestMode: ClusterSyncMode | undefined;
  /**
   * Local mode: how many record versions the node in use had not copied from the leader at its
   * last check; undefined when not knowable (default mode, no check yet, leader out of reach).
   */
  readonly behindLeader: bigint | undefined;
}

/** A saved position to resume from instead of a first SyncLatest (a warm start). */
export interface ResumePosition {
  readonly serverVersion: bigint;
  readonly recordVersion: bigint;
}

/**
 * Whether the loop has been current with the server: "pending" while the first Sync from a
 * saved position is reading its backlog (with wait=false, so its end says it is all there).
 */
type CatchUp = "pending" | "done";

interface QueuedInput {
  readonly input: LoopInput;
  /** undefined for inputs from the API (start, close), which are never stale. */
  readonly epoch: number | undefined;
}

export class SyncLoop {
  private state: SyncState = INITIAL_SYNC_STATE;
  private effect: Subscription | undefined;
  private source: SyncStreamSource | undefined;
  private retryInMs: number | undefined;
  private catchUp: CatchUp = "pending";
  private behindLeader: bigint | undefined;
  private readonly queue: QueuedInput[] = [];
  private processing = false;
  private readonly policy: RetryPolicy;
  private readonly fastLoop: FastLoopDetector;
  private readonly reader: StreamReaderOptions;
  private readonly connectTimeoutMs: number;
  private readonly refreshIntervalMs: number;
  private readonly lateCommitGraceMs: number;
  private readonly history: PositionHistory;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly statusSubject: BehaviorSubject<SyncStatus>;
  private readonly onAbort = () => this.close();

  /** The current status, replayed to each new subscriber, then every change. */
  readonly status$: Observable<SyncStatus>;

  /** @throws ConnectError InvalidArgument for settings that can never work */
  constructor(private readonly options: SyncLoopOptions) {
    this.policy = resolveRetryPolicy(options.retry);
    this.fastLoop = new FastLoopDetector(this.policy);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    const idleTimeoutMs = positiveMs("idleTimeoutMs", options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.connectTimeoutMs = positiveMs("connectTimeoutMs", options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    this.refreshIntervalMs = positiveMs("refresh.intervalMs", options.refresh?.intervalMs ?? DEFAULT_REFRESH_INTERVAL_MS);
    if (options.nodeCheckIntervalMs !== undefined) positiveMs("nodeCheckIntervalMs", options.nodeCheckIntervalMs);
    this.lateCommitGraceMs = nonNegativeMs("refresh.lateCommitGraceMs", options.refresh?.lateCommitGraceMs ?? DEFAULT_LATE_COMMIT_GRACE_MS);
    this.history = new PositionHistory(Math.max(1, this.lateCommitGraceMs / 4));
    const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new ConnectError("maxBatchSize must be a positive integer", Code.InvalidArgument);
    this.reader = { idleTimeoutMs, maxBatchSize, now: this.now };
    this.statusSubject = new BehaviorSubject(this.statusOf(this.state));
    this.status$ = this.statusSubject.asObservable();
    if (options.signal?.aborted) {
      this.close();
    } else {
      options.signal?.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  get status(): SyncStatus {
    return this.statusSubject.getValue();
  }

  /**
   * Starts syncing (idle -> connecting). Does nothing once started or closed. With `from` (a
   * saved snapshot's position, whose records the target already holds), the loop resumes Sync
   * from it instead of starting with SyncLatest; its first stream reads the backlog without
   * waiting, and its end marks the loop caught up. ABORTED (another server version, a compacted
   * log) falls back to SyncLatest as usual.
   */
  start(from?: ResumePosition): void {
    if (from !== undefined && this.state.name === "idle") {
      this.state = { ...this.state, serverVersion: from.serverVersion, recordVersion: from.recordVersion };
      this.history.reset(this.now(), from.recordVersion);
    }
    this.dispatch({ event: { type: "start" } }, undefined);
  }

  /** Ends every stream and timer and completes status$. Idempotent. */
  close(): void {
    this.dispatch({ event: { type: "close" } }, undefined);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Never throws: it runs inside timers and stream callbacks. */
  private dispatch(input: LoopInput, epoch: number | undefined): void {
    this.queue.push({ input, epoch });
    if (this.processing) return;
    this.processing = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        if (next.epoch !== undefined && next.epoch !== this.state.epoch) continue; // stale
        try {
          this.process(next.input);
        } catch (error) {
          this.recover(error);
        }
      }
    } finally {
      this.processing = false;
    }
  }

  /** A step threw (a bug): report it, and back off so the stream starts over cleanly. */
  private recover(error: unknown): void {
    try {
      this.options.onInternalError?.(error);
    } catch {
      // The reporter failed too: nothing more to tell.
    }
    if (this.state.name === "closed" || this.state.name === "idle" || this.state.name === "backing-off") return;
    try {
      this.process({ event: { type: "error", message: `internal error: ${errorMessage(error)}`, connectionFailure: false } });
    } catch {
      this.close();
    }
  }

  /**
   * One input: the transition, then (before the state changes) the input's commit (a snapshot's
   * swap) and its events into the replica target. If either throws, the target has refused what
   * the stream delivered: the position is not taken, and the type resyncs.
   */
  private process({ event, outputs, commit }: LoopInput): void {
    const previous = this.state;
    const next = transition(previous, event);
    if (next === previous) return;
    if (commit !== undefined || outputs !== undefined) {
      try {
        commit?.();
        if (outputs !== undefined) for (const output of outputs) this.options.replica.apply(output);
      } catch (error) {
        this.process({ event: { type: "refused", message: errorMessage(error) } });
        return;
      }
    }
    this.state = next;

    if (event.type === "snapshotReceived") {
      this.history.reset(this.now(), event.recordVersion);
      this.catchUp = "done";
    }
    else if (event.type === "streamMessage" && next.recordVersion > previous.recordVersion) this.history.record(this.now(), next.recordVersion);
    if (event.type === "snapshotReceived" || (event.type === "error" && event.clusterRefusal !== undefined)) this.behindLeader = undefined;
    if (event.type === "error" && this.source !== undefined) {
      if (event.connectionFailure) this.options.source.reportConnectionFailure(this.source);
      else if (event.clusterRefusal !== undefined) this.options.source.reportRefusal?.(this.source);
    }
    if (next.epoch !== previous.epoch) {
      this.effect?.unsubscribe();
      this.effect = undefined;
      this.retryInMs = undefined;
      this.enter(next);
    }
    this.statusSubject.next(this.statusOf(this.state));
    if (next.name === "closed") this.finish();
  }

  /** Starts the effect that belongs to a freshly entered state. */
  private enter(state: SyncState): void {
    const epoch = state.epoch;
    const feed = (effect: Observable<LoopInput>) => {
      this.effect = effect.subscribe((input) => this.dispatch(input, epoch));
    };
    switch (state.name) {
      case "connecting":
        feed(this.connect());
        return;
      case "snapshotting":
        feed(this.withSource((source) => this.snapshotStream(source)));
        return;
      case "live": {
        const serverVersion = state.serverVersion;
        if (serverVersion === undefined) throw new Error("sync loop entered live without a server version");
        const refresh = timer(this.refreshIntervalMs).pipe(map(() => this.refreshInput(serverVersion)));
        feed(
          merge(
            this.withSource((source) => this.changeStream(source, serverVersion, state.recordVersion, this.catchUp === "done")),
            refresh,
            this.source === undefined ? EMPTY : this.nodeChecks(this.source, serverVersion),
          ),
        );
        return;
      }
      case "backing-off": {
        const now = this.now();
        const kind = state.retryKind ?? "backoff";
        const fast = countsAsFastLoop(kind) && this.fastLoop.record(now);
        const { delayMs } = retryDelay(kind, state.attempt, fast, this.policy, this.random);
        this.retryInMs = delayMs;
        feed(timer(delayMs).pipe(map((): LoopInput => ({ event: { type: "retry" } }))));
        return;
      }
      case "idle":
      case "closed":
        return;
      default: {
        const unreachable: never = state.name;
        throw new Error(`unknown state ${String(unreachable)}`);
      }
    }
  }

  /**
   * Picks the current URL's source and waits for its connection, with a timeout. Any failure
   * here is the connection's fault, so it moves on to the next URL.
   */
  private connect(): Observable<LoopInput> {
    return new Observable<LoopInput>((subscriber) => {
      let done = false;
      const fail = (message: string) => {
        if (done) return;
        done = true;
        clearTimeout(timeout);
        subscriber.next({ event: { type: "error", message, connectionFailure: true } });
        subscriber.complete();
      };
      const timeout = setTimeout(() => fail(`no connection within ${this.connectTimeoutMs} ms`), this.connectTimeoutMs);
      try {
        const source = this.options.source.current();
        if (source !== this.source) this.behindLeader = undefined;
        this.source = source;
        source.connect().then(
          () => {
            if (done) return;
            done = true;
            clearTimeout(timeout);
            subscriber.next({ event: { type: "connected" } });
            subscriber.complete();
          },
          (reason: unknown) => {
            const event = streamErrorEvent(reason);
            fail(event.type === "error" ? event.message : reason instanceof Error ? reason.message : String(reason));
          },
        );
      } catch (reason) {
        queueMicrotask(() => fail(reason instanceof Error ? reason.message : String(reason)));
      }
      return () => {
        done = true;
        clearTimeout(timeout);
      };
    });
  }

  /**
   * The stream runs on the source that connecting picked. A failure after this client reset
   * that connection (another stream's failover) is the reset's doing, not the server's: it keeps
   * the position, whatever the cut stream reported (CANCELLED, a connection error, an end).
   */
  private withSource(open: (source: SyncStreamSource) => Observable<LoopInput>): Observable<LoopInput> {
    const source = this.source;
    if (source === undefined) throw new Error("sync loop opened a stream before connecting");
    const resets = source.resets;
    return open(source).pipe(map((input) => (source.resets !== resets && CUT_BY_RESET.has(input.event.type) ? RESET_INPUT : input)));
  }

  /**
   * Checks the live stream's node every `nodeCheckIntervalMs`: a node now in another server
   * version (a new leader; a follower that re-copied it) means the position is gone (ABORTED,
   * resync at once); a node that refuses (CLUSTER_HAS_NO_LEADER) fails the stream like the
   * refusal would. Any other failed check is not the stream's failure: the next one retries.
   * Local mode also learns how far behind the leader the node is.
   */
  private nodeChecks(source: SyncStreamSource, serverVersion: bigint): Observable<LoopInput> {
    const intervalMs = this.options.nodeCheckIntervalMs;
    if (intervalMs === undefined || source.checkNode === undefined) return EMPTY;
    return new Observable<LoopInput>((subscriber) => {
      const controller = new AbortController();
      let pending: ReturnType<typeof setTimeout> | undefined;
      const schedule = () => {
        pending = setTimeout(check, intervalMs);
      };
      const check = () => {
        // A check never outlives the next one's turn: a node that does not answer is left to the stream.
        source.checkNode!(controller.signal, intervalMs).then(
          (node) => {
            if (controller.signal.aborted) return;
            if (node.serverVersion !== serverVersion) {
              subscriber.next({ event: { type: "aborted", message: `the node now serves server version ${node.serverVersion}, this stream is in ${serverVersion}: the cluster's leader changed` } });
              subscriber.complete();
              return;
            }
            if (node.behindLeader !== this.behindLeader) {
              this.behindLeader = node.behindLeader;
              this.statusSubject.next(this.statusOf(this.state));
            }
            schedule();
          },
          (reason: unknown) => {
            if (controller.signal.aborted) return;
            const event = streamErrorEvent(reason);
            if (event.type === "error" && event.clusterRefusal !== undefined) {
              subscriber.next({ event });
              subscriber.complete();
              return;
            }
            schedule();
          },
        );
      };
      schedule();
      return () => {
        controller.abort();
        clearTimeout(pending);
      };
    });
  }

  /**
   * The refresh of a live stream: re-read from the position held `intervalMs + grace` ago, and
   * tell the replica nothing below it will be replayed again (it may forget older deletions).
   */
  private refreshInput(serverVersion: bigint): LoopInput {
    const cutoff = this.now() - this.refreshIntervalMs - this.lateCommitGraceMs;
    const from = this.history.rewindPoint(cutoff) ?? this.state.recordVersion;
    return {
      event: { type: "refresh", from },
      outputs: [{ kind: "floor", type: this.options.type, serverVersion, recordVersion: from }],
    };
  }

  /**
   * SyncLatest: each batch goes straight into the target's snapshot builder and the snapshot
   * completes in slices when the stream ends; leaving the state early (failure, close) discards it.
   */
  private snapshotStream(source: SyncStreamSource): Observable<LoopInput> {
    const type = this.options.type;
    const target = this.options.replica;
    const options = new Map<string, Options>();
    let versions: { serverVersion: bigint; recordVersion: bigint } | undefined;
    let sink: SnapshotSink | undefined;
    let completed = false;
    const stream = readStream<SyncLatestResponse>(
      (signal) => source.syncLatest(type, signal),
      {
        onBatch(batch, at) {
          let chunk: RawRecord[] | undefined;
          for (const message of batch) {
            const r = message.response;
            if (r.case === "record") (chunk ??= []).push(rawRecordView(r.value));
            else if (r.case === "options" && r.value.options !== undefined) options.set(r.value.typeURL, r.value.options);
            else if (r.case === "versions") versions = { serverVersion: r.value.serverVersion, recordVersion: r.value.latestRecordVersion };
          }
          if (chunk !== undefined) (sink ??= target.begin(type)).add(chunk);
          return { event: { type: "streamMessage", at } };
        },
        onEnd(at) {
          if (versions === undefined) {
            return { event: { type: "error", message: "SyncLatest ended without its versions message", connectionFailure: false } };
          }
          const event = { type: "snapshotReceived", at, ...versions } as const;
          const completion = (sink ??= target.begin(type)).finishInSteps(versions, options);
          return prepareInSlices(completion).then(
            (): LoopInput => ({
              event,
              commit: () => {
                completion.swap();
                completed = true;
              },
            }),
          );
        },
      },
      this.reader,
    );
    return new Observable<LoopInput>((subscriber) => {
      const inner = stream.subscribe(subscriber);
      return () => {
        inner.unsubscribe();
        if (!completed) sink?.discard();
      };
    });
  }

  /**
   * Sync from our position, waiting for changes; each batch becomes one change event. Without
   * `wait` (catching up from a saved position) the server ends the stream after the backlog: the
   * end is a refresh into a waiting stream from the position reached, and marks the loop caught up.
   */
  private changeStream(source: SyncStreamSource, serverVersion: bigint, recordVersion: bigint, wait: boolean): Observable<LoopInput> {
    const type = this.options.type;
    const healthyMs = healthyStreamMs(this.policy);
    const openedAt = this.now();
    const caughtUp = (): LoopInput => ({
      event: { type: "refresh", from: this.state.recordVersion },
      commit: () => {
        this.catchUp = "done";
      },
    });
    return readStream<SyncResponse>(
      (signal) => source.sync(wait ? { serverVersion, recordVersion, type } : { serverVersion, recordVersion, type, wait: false }, signal),
      {
        onBatch(batch, at) {
          // Stream order is kept: options (sent once at stream start) and runs of records
          // become consecutive events.
          const outputs: ReplicaEvent[] = [];
          let records: RawRecord[] = [];
          let highest: bigint | undefined;
          for (const message of batch) {
            const r = message.response;
            if (r.case === "record") {
              records.push(rawRecordView(r.value));
              if (highest === undefined || r.value.version > highest) highest = r.value.version;
            } else if (r.case === "options" && r.value.options !== undefined) {
              if (records.length > 0) outputs.push({ kind: "change", serverVersion, records });
              records = [];
              outputs.push({ kind: "options", type: r.value.typeURL, options: r.value.options });
            }
          }
          if (records.length > 0) outputs.push({ kind: "change", serverVersion, records });
          return { event: { type: "streamMessage", at, highestRecordVersion: highest }, outputs };
        },
        onEnd(at) {
          if (!wait) return caughtUp();
          return { event: { type: "streamEnded", healthy: at - openedAt >= healthyMs } };
        },
      },
      this.reader,
    );
  }

  private statusOf(state: SyncState): SyncStatus {
    return {
      state: state.name,
      url: this.source?.url,
      serverVersion: state.serverVersion,
      recordVersion: state.recordVersion,
      attempt: state.attempt,
      lastError: state.lastError,
      lastMessageAt: state.lastMessageAt,
      retryInMs: this.retryInMs,
      caughtUp: this.catchUp === "done",
      requestMode: this.source?.requestMode,
      behindLeader: this.behindLeader,
    };
  }

  private finish(): void {
    this.options.signal?.removeEventListener("abort", this.onAbort);
    this.statusSubject.complete();
    this.options.onClose?.();
  }
}

/** A timer's delay: positive, and within what a Node timer can wait (a longer one fires at once). */
function positiveMs(name: string, value: number): number {
  if (!(typeof value === "number" && value > 0 && value <= MAX_TIMER_DELAY_MS)) {
    throw new ConnectError(`${name} must be a positive number of milliseconds, at most ${MAX_TIMER_DELAY_MS}, got ${String(value)}`, Code.InvalidArgument);
  }
  return value;
}

function nonNegativeMs(name: string, value: number): number {
  if (!(typeof value === "number" && Number.isFinite(value) && value >= 0)) {
    throw new ConnectError(`${name} must be a non-negative number of milliseconds, got ${String(value)}`, Code.InvalidArgument);
  }
  return value;
}

function errorMessage(error: unknown): string {
  return error instanceof ConnectError ? error.rawMessage : error instanceof Error ? error.message : String(error);
}

/**
 * The failures a stream reports when its connection is cut under it: the CANCELLED an aborted
 * connection gives (which looks like the server's Clear), a connection error, an end. Not
 * ABORTED: only the server sends that (a reset socket that connect-node reports as Aborted is
 * already a connection error), so it means what it says even if it is read after a reset.
 */
const CUT_BY_RESET: ReadonlySet<string> = new Set(["cancelledByServer", "error", "streamEnded"]);
const RESET_INPUT: LoopInput = { event: { type: "connectionReset" } };
/** The least a snapshot completion slice works for, however much of the turn is gone. */
const MIN_SLICE_MS = 0.5;

/**
 * Prepares a snapshot's swap slice by slice, yielding to the event loop in between. A slice gets
 * what is left of SNAPSHOT_SLICE_MS in the current turn after the other sliced work of the
 * process (turn-budget.ts), and at least MIN_SLICE_MS, so that it always makes progress.
 */
async function prepareInSlices(completion: SnapshotSwap): Promise<void> {
  while (!completion.prepare(Math.max(MIN_SLICE_MS, SNAPSHOT_SLICE_MS - elapsedInTurn()))) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Creates a loop (idle until start()). */
export function createSyncLoop(options: SyncLoopOptions): SyncLoop {
  return new SyncLoop(options);
}
