/**
 * The sync loop: drives the state machine (sync-state-machine.ts) with real streams and
 * timers, and publishes typed, versioned batches for the replica plus a state stream.
 *
 * SyncLatest is read in full into a side buffer, then one snapshot event goes out, then Sync
 * resumes from (server_version, record_version) with wait=true and each batch of changes
 * that arrive together goes out as one change event. Every gap heals through backing-off:
 * ABORTED and a server-side CANCELLED resync from SyncLatest, an ended or idle stream and
 * connection errors resume Sync (a connection error also moves to the next URL), and an
 * authentication failure retries after a long fixed delay.
 *
 * Each effect (one stream, or one timer) belongs to one epoch of the machine; inputs from an
 * older epoch are dropped, and leaving the epoch unsubscribes the effect, which aborts its
 * stream and clears its timers. Inputs are processed one at a time from a queue, so an input
 * produced while another is being handled never re-enters the machine.
 */
import { BehaviorSubject, Observable, Subject, Subscription, map, timer } from "rxjs";
import type { Options, SyncLatestResponse, SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { rawRecordView } from "../replica/raw-record.js";
import type { RawRecord, ReplicaEvent } from "../replica/replica-events.js";
import { FastLoopDetector, resolveRetryPolicy, retryDelay, type RetryPolicy } from "./retry-delay.js";
import { streamErrorEvent } from "./stream-error-events.js";
import { SNAPSHOT_SLICE_MS, type SnapshotSink, type SnapshotSwap, type SnapshotTarget } from "./snapshot-sink.js";
import { readStream, type LoopInput, type StreamReaderOptions } from "./stream-reader.js";
import {
  INITIAL_SYNC_STATE,
  transition,
  type SyncMachineEvent,
  type SyncState,
  type SyncStateName,
} from "./sync-state-machine.js";
import type { SyncSourceProvider, SyncStreamSource } from "./sync-stream-source.js";

/** Sync has no heartbeats, so a quiet databroker is normal: only a long silence is suspicious. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_MAX_BATCH_SIZE = 1024;
/** As Pomerium's grpc_client_timeout default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface SyncLoopOptions {
  /** The record type to mirror (a type URL), or "" for every type. */
  readonly type: string;
  readonly source: SyncSourceProvider;
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
  /**
   * Where SyncLatest records go as they stream (e.g. the replica's beginSnapshot): batch by
   * batch, then completed in slices before the loop moves to Sync, so a large snapshot never
   * blocks the event loop for long and is never held twice. Without it the loop buffers the
   * whole SyncLatest and emits one `snapshot` event on events$.
   */
  readonly snapshots?: SnapshotTarget;
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
}

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
  private readonly queue: QueuedInput[] = [];
  private processing = false;
  private readonly policy: RetryPolicy;
  private readonly fastLoop: FastLoopDetector;
  private readonly reader: StreamReaderOptions;
  private readonly connectTimeoutMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly eventsSubject = new Subject<ReplicaEvent>();
  private readonly statusSubject: BehaviorSubject<SyncStatus>;
  private readonly onAbort = () => this.close();

  /** Snapshot and change batches, in order. Hot: subscribe before start(). */
  readonly events$: Observable<ReplicaEvent> = this.eventsSubject.asObservable();
  /** The current status, replayed to each new subscriber, then every change. */
  readonly status$: Observable<SyncStatus>;

  constructor(private readonly options: SyncLoopOptions) {
    this.policy = resolveRetryPolicy(options.retry);
    this.fastLoop = new FastLoopDetector(this.policy);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    if (!(idleTimeoutMs > 0)) throw new RangeError("idleTimeoutMs must be a positive number of milliseconds");
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!(this.connectTimeoutMs > 0)) throw new RangeError("connectTimeoutMs must be a positive number of milliseconds");
    this.reader = { idleTimeoutMs, maxBatchSize: options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE, now: this.now };
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

  /** Starts syncing (idle -> connecting). Does nothing once started or closed. */
  start(): void {
    this.dispatch({ event: { type: "start" } }, undefined);
  }

  /** Ends every stream and timer and completes both observables. Idempotent. */
  close(): void {
    this.dispatch({ event: { type: "close" } }, undefined);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private dispatch(input: LoopInput, epoch: number | undefined): void {
    this.queue.push({ input, epoch });
    if (this.processing) return;
    this.processing = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        if (next.epoch !== undefined && next.epoch !== this.state.epoch) continue; // stale
        this.process(next.input);
      }
    } finally {
      this.processing = false;
    }
  }

  private process({ event, outputs, commit }: LoopInput): void {
    const previous = this.state;
    const next = transition(previous, event);
    if (next === previous) return;
    if (commit !== undefined) {
      try {
        commit();
      } catch (error) {
        this.process({ event: streamErrorEvent(error) });
        return;
      }
    }
    this.state = next;

    if (outputs !== undefined) for (const output of outputs) this.eventsSubject.next(output);
    if (event.type === "error" && event.connectionFailure && this.source !== undefined) {
      this.options.source.reportConnectionFailure(this.source);
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
        feed(this.withSource((source) => this.changeStream(source, serverVersion, state.recordVersion)));
        return;
      }
      case "backing-off": {
        const now = this.now();
        const fast = state.retryKind === "backoff" && this.fastLoop.record(now);
        const { delayMs } = retryDelay(state.retryKind ?? "backoff", state.attempt, fast, this.policy, this.random);
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

  /** The stream runs on the source that connecting picked. */
  private withSource(open: (source: SyncStreamSource) => Observable<LoopInput>): Observable<LoopInput> {
    const source = this.source;
    if (source === undefined) throw new Error("sync loop opened a stream before connecting");
    return open(source);
  }

  /**
   * SyncLatest. With a snapshot target, each batch goes straight into the target and the
   * snapshot completes in slices when the stream ends; leaving the state early (failure,
   * close) discards it. Without one, the records are buffered on the side and one snapshot
   * event goes out when the versions arrive and the stream ends.
   */
  private snapshotStream(source: SyncStreamSource): Observable<LoopInput> {
    const type = this.options.type;
    const target = this.options.snapshots;
    const records: RawRecord[] = [];
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
          if (chunk !== undefined) {
            if (target === undefined) for (const record of chunk) records.push(record);
            else (sink ??= target.begin(type)).add(chunk);
          }
          return { event: { type: "streamMessage", at } };
        },
        onEnd(at) {
          if (versions === undefined) {
            return { event: { type: "error", message: "SyncLatest ended without its versions message", connectionFailure: false } };
          }
          const event = { type: "snapshotReceived", at, ...versions } as const;
          if (target === undefined) return { event, outputs: [{ kind: "snapshot", type, ...versions, records, options }] };
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
    if (target === undefined) return stream;
    return new Observable<LoopInput>((subscriber) => {
      const inner = stream.subscribe(subscriber);
      return () => {
        inner.unsubscribe();
        if (!completed) sink?.discard();
      };
    });
  }

  /** Sync from our position, waiting for changes; each batch becomes one change event. */
  private changeStream(source: SyncStreamSource, serverVersion: bigint, recordVersion: bigint): Observable<LoopInput> {
    const type = this.options.type;
    return readStream<SyncResponse>(
      (signal) => source.sync({ serverVersion, recordVersion, type }, signal),
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
        onEnd() {
          return { event: { type: "streamEnded" } };
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
    };
  }

  private finish(): void {
    this.options.signal?.removeEventListener("abort", this.onAbort);
    this.eventsSubject.complete();
    this.statusSubject.complete();
    this.options.onClose?.();
  }
}

/** Prepares a snapshot's swap slice by slice, yielding to the event loop in between. */
async function prepareInSlices(completion: SnapshotSwap): Promise<void> {
  while (!completion.prepare(SNAPSHOT_SLICE_MS)) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Creates a loop (idle until start()). */
export function createSyncLoop(options: SyncLoopOptions): SyncLoop {
  return new SyncLoop(options);
}
