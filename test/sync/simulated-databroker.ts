/**
 * A databroker simulated from the protocol, for model-based tests of the sync loops: one server
 * version, one record-version counter for every type, a change log that compaction shortens,
 * and one connection (one URL) whose streams are async iterables the model feeds.
 *
 * What the model promises, as the protocol does:
 * - SyncLatest lists the type's live records, then one Versions message (server_version, the
 *   counter), then ends OK;
 * - Sync(server_version, record_version) first checks the server version (ABORTED "invalid
 *   server version") and that record_version >= earliest - 1 (ABORTED "invalid record version"),
 *   then sends every change of its type above record_version in version order (upserts and
 *   tombstones, which keep the last data), and every later one as it is written;
 * - Clear starts a new server version, forgets every record and change, resets the counter, and
 *   cancels every open stream with CANCELLED "context canceled" after what it already sent;
 * - a connection failure ends a stream with UNAVAILABLE (ECONNRESET), and a refused connection
 *   fails `connect()` (ECONNREFUSED); like the client's URL set, `reportConnectionFailure` then
 *   resets the connection: `resets` goes up and every stream still open on it is cut with
 *   CANCELLED "connection aborted", losing what it had not delivered.
 *
 * It also counts, per type, what the protocol says about SyncLatest: how many were opened, and
 * how many times the server left the client without a position (a SyncLatest that did not
 * deliver its end, a Sync the client read ABORTED or the Clear's CANCELLED from).
 */
import { create } from "@bufbuild/protobuf";
import { AnySchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { RecordSchema, type Record as DatabrokerRecord, type SyncLatestResponse, type SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import type { RawRecord } from "../../src/replica/replica-events.js";
import type { SyncSourceProvider, SyncStreamSource } from "../../src/sync/sync-stream-source.js";
import { sessionRecord, userRecord } from "../replica/replica-fixtures.js";
import { change, latestRecord, latestVersions } from "./scripted-source.js";

const MODIFIED_AT = timestampFromMs(1_700_000_000_000);

/** Why a stream's last message is an error (what the client will read). */
export type StreamFailure = "invalidVersion" | "cleared" | "connectionFailure" | "cutByReset";

type Terminal = { readonly kind: "end" } | { readonly kind: "error"; readonly failure: StreamFailure; readonly error: ConnectError };

/**
 * One server stream. Messages and its last word (end or error) are queued by the model; the
 * client reads them in order. A stream is open on the server until its last word is queued, and
 * open on the wire until the client has read that last word (or aborted).
 */
export class SimulatedStream<M extends SyncLatestResponse | SyncResponse> implements AsyncIterable<M> {
  private readonly queue: M[] = [];
  private terminal: Terminal | undefined;
  /** What the client read last: set once the stream is over for it. */
  outcome: Terminal | { readonly kind: "clientAbort" } | undefined;
  /** SyncLatest: the versions its last message carries. */
  versions: { readonly serverVersion: bigint; readonly recordVersion: bigint } | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly broker: SimulatedDatabroker,
    readonly kind: "syncLatest" | "sync",
    readonly type: string,
    readonly signal: AbortSignal,
    /** Sync: the server version and record version asked for. */
    readonly request?: { readonly serverVersion: bigint; readonly recordVersion: bigint },
  ) {
    signal.addEventListener("abort", () => {
      if (this.outcome === undefined) this.finish({ kind: "clientAbort" });
      this.wake?.();
    });
  }

  get openOnServer(): boolean {
    return this.outcome === undefined && this.terminal === undefined;
  }

  get openOnWire(): boolean {
    return this.outcome === undefined;
  }

  /** Its end is queued, not yet read (a SyncLatest the server has sent in full). */
  get endPending(): boolean {
    return this.terminal?.kind === "end";
  }

  /** Nothing queued for the client (it has read everything sent so far). */
  get drained(): boolean {
    return this.queue.length === 0 && this.terminal === undefined;
  }

  send(message: M): void {
    this.queue.push(message);
    this.wake?.();
  }

  /** Queues the stream's last word; `lose` drops what the client has not read yet (a reset connection). */
  close(terminal: Terminal, lose: boolean): void {
    if (lose) this.queue.length = 0;
    this.terminal = terminal;
    this.wake?.();
  }

  /** Keeps only the queued messages that pass (a SyncLatest cancelled before its versions were sent). */
  retain(keep: (message: M) => boolean): void {
    const kept = this.queue.filter(keep);
    this.queue.length = 0;
    this.queue.push(...kept);
  }

  private finish(outcome: NonNullable<SimulatedStream<M>["outcome"]>): void {
    this.outcome = outcome;
    this.broker.streamFinished(this);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<M> {
    for (;;) {
      if (this.signal.aborted) throw new ConnectError("the operation was aborted", Code.Canceled);
      const message = this.queue.shift();
      if (message !== undefined) {
        this.broker.changed();
        yield message;
        continue;
      }
      const terminal = this.terminal;
      if (terminal !== undefined) {
        this.terminal = undefined;
        this.finish(terminal);
        if (terminal.kind === "end") return;
        throw terminal.error;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/** One change in the log. */
interface LoggedChange {
  readonly version: bigint;
  readonly type: string;
  readonly record: DatabrokerRecord;
}

/** Per type: what the protocol counts about SyncLatest. */
export interface SnapshotAccount {
  opened: number;
  /** Times the server left the client without a position (see the module comment). */
  positionsLost: number;
  /** SyncLatest streams the client abandoned before their end, with no server reason. */
  abandoned: number;
}

/** Counts of what happened on the wire, to check the model exercised what it should. */
export interface WireCounts {
  cutByReset: number;
  invalidVersion: number;
  cleared: number;
  connectionFailures: number;
  cleanEnds: number;
  refusedConnects: number;
}

export class SimulatedDatabroker implements SyncSourceProvider {
  serverVersion: bigint;
  private counter = 0n;
  private earliest = 0n;
  private log: LoggedChange[] = [];
  private readonly liveRecords = new Map<string, DatabrokerRecord>();
  /** Per type, the newest change written in this server version. */
  private readonly newestChange = new Map<string, bigint>();
  /** Per type, the latest_record_version of the last SyncLatest a client read to its end, in this server version. */
  private readonly snapshotAt = new Map<string, bigint>();
  /** Every record state the server ever had: `${serverVersion}|${type}|${id}|${version}` -> data. */
  readonly history = new Map<string, Uint8Array>();
  /** Every stream ever opened, in order. */
  readonly streams: SimulatedStream<SyncLatestResponse | SyncResponse>[] = [];
  readonly snapshots = new Map<string, SnapshotAccount>();
  readonly wire: WireCounts = { cutByReset: 0, invalidVersion: 0, cleared: 0, connectionFailures: 0, cleanEnds: 0, refusedConnects: 0 };
  private readonly source: SyncStreamSource & { resets: number };
  /** How many of the next connection attempts are refused. */
  private refusals = 0;

  constructor(
    readonly types: readonly string[],
    serverVersion: bigint,
    /** Called on every change of the model or of a stream (for event-driven waits). */
    private readonly onChange: () => void = () => undefined,
  ) {
    this.serverVersion = serverVersion;
    for (const type of types) this.snapshots.set(type, { opened: 0, positionsLost: 0, abandoned: 0 });
    this.source = {
      url: "http://simulated-databroker",
      resets: 0,
      connect: () => this.connect(),
      syncLatest: (type, signal) => this.openSyncLatest(type, signal),
      sync: (request, signal) => this.openSync(request, signal),
    };
  }

  // ---- SyncSourceProvider ----

  current(): SyncStreamSource {
    return this.source;
  }

  /** As the URL set with one URL: reset the connection, cutting every stream still on it. */
  reportConnectionFailure(source: SyncStreamSource): void {
    if (source !== this.source) return;
    this.source.resets++;
    for (const stream of this.openOnWire()) {
      this.wire.cutByReset++;
      stream.close({ kind: "error", failure: "cutByReset", error: new ConnectError("connection aborted", Code.Canceled) }, true);
    }
    this.changed();
  }

  get resets(): number {
    return this.source.resets;
  }

  // ---- the server's data ----

  /** The highest record version written in this server version (latest_record_version). */
  get latestRecordVersion(): bigint {
    return this.counter;
  }

  /**
   * Where the protocol brings a client of `type` that has read everything sent to it: the
   * latest_record_version of its last complete SyncLatest, or the newest change of its type
   * after it (Sync sends every change above the position). Undefined before such a snapshot.
   */
  position(type: string): bigint | undefined {
    const snapshot = this.snapshotAt.get(type);
    if (snapshot === undefined) return undefined;
    const newest = this.newestChange.get(type) ?? 0n;
    return newest > snapshot ? newest : snapshot;
  }

  /** The live records of a type, by id. */
  live(type: string): Map<string, DatabrokerRecord> {
    const out = new Map<string, DatabrokerRecord>();
    for (const record of this.liveRecords.values()) if (record.type === type) out.set(record.id, record);
    return out;
  }

  put(type: string, id: string): void {
    const version = ++this.counter;
    this.append(wireRecord(recordData(type, id, version)));
  }

  /** Deleting a record that does not exist writes nothing (file and memory storage). */
  delete(type: string, id: string): void {
    const held = this.liveRecords.get(`${type}|${id}`);
    if (held === undefined) return;
    const version = ++this.counter;
    // The tombstone keeps the last data, with a new version (file storage).
    this.append(create(RecordSchema, { type, id, version, modifiedAt: MODIFIED_AT, deletedAt: MODIFIED_AT, data: held.data }));
  }

  /**
   * Clear: a new server version, nothing held, the counter back to 0; every open stream is
   * cancelled after what it already sent. `catchSnapshots`: a SyncLatest whose versions the client
   * has not read yet is cancelled before them (the listing was still being sent).
   */
  clear(catchSnapshots: boolean): void {
    this.serverVersion += 0x1_0000_0001n;
    this.counter = 0n;
    this.earliest = 0n;
    this.log = [];
    this.liveRecords.clear();
    this.newestChange.clear();
    this.snapshotAt.clear();
    for (const stream of this.streams) {
      const cancel = stream.openOnServer || (catchSnapshots && stream.kind === "syncLatest" && stream.endPending);
      if (!cancel) continue;
      this.wire.cleared++;
      if (stream.kind === "syncLatest") stream.retain((m) => (m as SyncLatestResponse).response.case === "record");
      stream.close({ kind: "error", failure: "cleared", error: new ConnectError("context canceled", Code.Canceled) }, false);
    }
    this.changed();
  }

  /** Compaction: every change but the newest is forgotten; earliest moves up to the newest. */
  compact(): void {
    const newest = this.log.at(-1);
    if (newest === undefined) return;
    this.log = [newest];
    this.earliest = newest.version;
    this.changed();
  }

  // ---- faults on the connection ----

  /** Streams the client has not finished reading, in the order they were opened. */
  openOnWire(): SimulatedStream<SyncLatestResponse | SyncResponse>[] {
    return this.streams.filter((s) => s.openOnWire);
  }

  /**
   * The connection fails under one stream (`whole`: under every open stream): it ends with
   * UNAVAILABLE ECONNRESET; `lose` drops what it had not delivered.
   */
  connectionFailure(pick: number, lose: boolean, whole: boolean): void {
    const open = this.openOnWire();
    if (open.length === 0) return;
    const failing = whole ? open : [open[pick % open.length]!];
    for (const stream of failing) {
      this.wire.connectionFailures++;
      const cause = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
      stream.close({ kind: "error", failure: "connectionFailure", error: new ConnectError("read ECONNRESET", Code.Unavailable, undefined, undefined, cause) }, lose);
    }
    this.changed();
  }

  /** The next `count` connection attempts are refused (ECONNREFUSED). */
  refuseConnects(count: number): void {
    this.refusals += count;
  }

  private connect(): Promise<void> {
    if (this.refusals === 0) return Promise.resolve();
    this.refusals--;
    this.wire.refusedConnects++;
    const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5443"), { code: "ECONNREFUSED" });
    return Promise.reject(new ConnectError("connect ECONNREFUSED 127.0.0.1:5443", Code.Unavailable, undefined, undefined, cause));
  }

  /** The server (or a proxy's idle timeout) ends one open Sync stream cleanly. */
  cleanEnd(pick: number): void {
    const open = this.streams.filter((s) => s.kind === "sync" && s.openOnServer);
    if (open.length === 0) return;
    this.wire.cleanEnds++;
    open[pick % open.length]!.close({ kind: "end" }, false);
    this.changed();
  }

  // ---- bookkeeping ----

  changed(): void {
    this.onChange();
  }

  /** Called once per stream, when the client has read its last word or aborted it. */
  streamFinished(stream: SimulatedStream<SyncLatestResponse | SyncResponse>): void {
    const account = this.snapshots.get(stream.type);
    const outcome = stream.outcome;
    if (account !== undefined && outcome !== undefined) {
      if (stream.kind === "syncLatest") {
        if (outcome.kind === "end" && stream.versions?.serverVersion === this.serverVersion) this.snapshotAt.set(stream.type, stream.versions.recordVersion);
        if (outcome.kind === "error") account.positionsLost++;
        else if (outcome.kind === "clientAbort") account.abandoned++;
      } else if (outcome.kind === "error" && (outcome.failure === "invalidVersion" || outcome.failure === "cleared")) {
        account.positionsLost++;
      }
    }
    this.changed();
  }

  private append(record: DatabrokerRecord): void {
    this.log.push({ version: record.version, type: record.type, record });
    this.newestChange.set(record.type, record.version);
    const key = `${record.type}|${record.id}`;
    if (record.deletedAt === undefined) {
      this.liveRecords.set(key, record);
      this.history.set(`${this.serverVersion}|${key}|${record.version}`, record.data!.value);
    } else {
      this.liveRecords.delete(key);
    }
    for (const stream of this.streams) {
      if (stream.kind === "sync" && stream.type === record.type && stream.openOnServer) {
        (stream as SimulatedStream<SyncResponse>).send(change(record));
      }
    }
    this.changed();
  }

  private openSyncLatest(type: string, signal: AbortSignal): AsyncIterable<SyncLatestResponse> {
    const stream = new SimulatedStream<SyncLatestResponse>(this, "syncLatest", type, signal);
    this.register(stream);
    this.snapshots.get(type)!.opened++;
    const records = [...this.live(type).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const record of records) stream.send(latestRecord(record));
    stream.versions = { serverVersion: this.serverVersion, recordVersion: this.counter };
    stream.send(latestVersions(this.serverVersion, this.counter));
    stream.close({ kind: "end" }, false);
    this.changed();
    return stream;
  }

  private openSync(request: { serverVersion: bigint; recordVersion: bigint; type: string }, signal: AbortSignal): AsyncIterable<SyncResponse> {
    const stream = new SimulatedStream<SyncResponse>(this, "sync", request.type, signal, request);
    this.register(stream);
    const invalid =
      request.serverVersion !== this.serverVersion
        ? "invalid server version"
        : this.earliest > 0n && request.recordVersion < this.earliest - 1n
          ? "invalid record version"
          : undefined;
    if (invalid !== undefined) {
      this.wire.invalidVersion++;
      stream.close({ kind: "error", failure: "invalidVersion", error: new ConnectError(invalid, Code.Aborted) }, false);
    } else {
      for (const c of this.log) if (c.type === request.type && c.version > request.recordVersion) stream.send(change(c.record));
    }
    this.changed();
    return stream;
  }

  private register(stream: SimulatedStream<SyncLatestResponse | SyncResponse>): void {
    this.streams.push(stream);
  }
}

/** A record's data at a version: real encoded Session/User bytes, different for every version. */
function recordData(type: string, id: string, version: bigint): RawRecord {
  return type === SESSION_TYPE
    ? sessionRecord(id, version, `u${version % 3n}`, { idpId: `idp${version}` })
    : userRecord(id, version, `${id}${version}@example.com`, `name${version}`);
}

function wireRecord(raw: RawRecord): DatabrokerRecord {
  return create(RecordSchema, {
    type: raw.type,
    id: raw.id,
    version: raw.version,
    modifiedAt: MODIFIED_AT,
    data: create(AnySchema, { typeUrl: raw.typeUrl, value: raw.data }),
  });
}
