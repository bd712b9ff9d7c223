/**
 * The replica: per-type tables fed by {@link ReplicaEvent}s, read synchronously.
 *
 * Invariants (architecture.md 1-3, 6, 7):
 * - versions are bigint; within one server version a record never moves backwards: an incoming
 *   record replaces the held one only when its version is higher, and a change at or below the
 *   stream position (the snapshot's latest_record_version, then the last change) is a replay;
 * - readiness is sticky: a resync builds new tables on the side and swaps them in one step, then
 *   emits one "resync" batch per type holding only the real differences;
 * - listeners run after the state is consistent; a throwing listener cannot break the replica.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject, Message } from "@bufbuild/protobuf";
import type { Struct } from "@bufbuild/protobuf/wkt";
import type { Options, QueryResponse } from "../../gen/databroker/databroker_pb.js";
import type { Session } from "../../gen/session/session_pb.js";
import type { ServiceAccount, User } from "../../gen/user/user_pb.js";
import { systemClock, type Clock } from "../records/clock.js";
import { isServiceAccount, isSession, isUser } from "../records/decode-record-data.js";
import { isMalformedRecordData } from "../records/malformed-data.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../records/type-urls.js";
import { serviceAccountInvalidAfterMs, sessionInvalidAfterMs } from "../records/validity.js";
import { CachedRecord, invalidAfterMs, sameContent } from "./cached-record.js";
import type { ChangeBatch, ChangeListener } from "./change-batch.js";
import { builtInIndexes, type IndexDefinition, type IndexFunction } from "./index-definitions.js";
import { queryTables } from "./local-query.js";
import type { ChangeEvent, OptionsEvent, RawRecord, ReplicaEvent, SnapshotEvent } from "./replica-events.js";
import { TypeTable } from "./type-table.js";

/** The versions a table is synced to: its stream's server version and position. */
export interface ReplicaVersions {
  readonly serverVersion: bigint;
  readonly recordVersion: bigint;
}

/** One SyncLatest scope ("" = every type): the types it covers share its versions. */
interface SyncScope {
  readonly type: string;
  readonly serverVersion: bigint;
  recordVersion: bigint;
}

/** A snapshot being built on the side; see {@link Replica.beginSnapshot}. */
export interface SnapshotBuilder {
  /** Adds SyncLatest records (data bytes already copied); may be called any number of times. */
  add(records: readonly RawRecord[]): void;
  /** Completes the snapshot with the final Versions and the options seen; swaps and emits. */
  finish(versions: ReplicaVersions, options?: ReadonlyMap<string, Options>): readonly ChangeBatch[];
}

interface SnapshotBuilderState {
  add(records: readonly RawRecord[]): void;
  finish(serverVersion: bigint, recordVersion: bigint, options: ReadonlyMap<string, Options>): ChangeBatch[];
}

/** Explicit lifecycle: "ready" is entered by the first snapshot and never left. */
type ReplicaState = "empty" | "ready";

export interface ReplicaOptions {
  /** Time source for validity checks (default: Date.now). */
  readonly clock?: Clock;
  /** Where listener exceptions go (default: rethrown in a microtask, like an unhandled error). */
  readonly onListenerError?: (error: unknown) => void;
  /**
   * Called for each record skipped because its data is malformed (see {@link MalformedRecord});
   * for logs and metrics. Exceptions go to `onListenerError`.
   */
  readonly onMalformedRecord?: (record: MalformedRecord) => void;
}

/**
 * A record whose data bytes do not parse as its (known) message type. It is not held: a
 * malformed update removes the version held before, since the server's current record is not
 * usable. Deliberately no id and no bytes: it is meant for logs, and the record version alone
 * identifies the record on the server.
 */
export interface MalformedRecord {
  readonly type: string;
  readonly typeUrl: string;
  readonly version: bigint;
  readonly dataLength: number;
}

export interface ValidityOptions {
  /** Return the record even when it fails its type's validity rule (expired). */
  readonly includeInvalid?: boolean;
}

/** A local Query, with the fields of databroker.QueryRequest. */
export interface LocalQueryRequest {
  /** A google.protobuf.Struct filter, as a message or as its JSON object. */
  readonly filter?: Struct | JsonObject;
  /** Free-text match, case-insensitive. */
  readonly query?: string;
  readonly offset?: bigint | number;
  /** As on the server, 0 (the default) returns no records: only total_count. */
  readonly limit?: bigint | number;
}

const EMPTY_IDS: ReadonlySet<string> = Object.freeze(new Set<string>());

export class Replica {
  #state: ReplicaState = "empty";
  readonly #tables = new Map<string, TypeTable>();
  readonly #scopeOf = new Map<string, SyncScope>();
  #allTypesScope: SyncScope | undefined;
  readonly #hostIndexes = new Map<string, IndexDefinition[]>();
  #snapshotGeneration = 0;
  readonly #listeners = new Set<ChangeListener>();
  readonly #clock: Clock;
  readonly #onListenerError: (error: unknown) => void;
  readonly #onMalformedRecord: ((record: MalformedRecord) => void) | undefined;
  #malformedRecords = 0;

  constructor(options: ReplicaOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#onMalformedRecord = options.onMalformedRecord;
    this.#onListenerError =
      options.onListenerError ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
  }

  // ---- input ----

  /**
   * Applies one event, notifies listeners, and returns the batches it produced (one per type
   * touched; a snapshot gives one per covered type even when nothing changed).
   * @throws ConnectError FailedPrecondition for a change whose server version differs from the
   *   held snapshot's (the sync loop must resync first); nothing is applied then.
   */
  apply(event: ReplicaEvent): readonly ChangeBatch[] {
    let batches: ChangeBatch[];
    switch (event.kind) {
      case "snapshot":
        batches = this.#applySnapshot(event);
        break;
      case "change":
        batches = this.#applyChange(event);
        break;
      case "options":
        this.#applyOptions(event);
        batches = [];
        break;
    }
    this.#emit(batches);
    return batches;
  }

  /**
   * Starts a snapshot that is fed in pieces as SyncLatest streams (records first, options and
   * versions last), so a large load never blocks the event loop in one go and the records need
   * not be collected in one array. Reads keep seeing the current tables until `finish`, which
   * swaps the new ones in and emits the batches, exactly like `apply` of a whole snapshot event.
   * Starting another snapshot (or applying a snapshot event) supersedes this one: its `add` and
   * `finish` then throw ConnectError Aborted.
   * @param type the SyncLatest type; "" for every type
   */
  beginSnapshot(type: string): SnapshotBuilder {
    const state = this.#startSnapshot(type);
    return {
      add: (records) => state.add(records),
      finish: (versions, options = new Map()) => {
        const batches = state.finish(versions.serverVersion, versions.recordVersion, options);
        this.#emit(batches);
        return batches;
      },
    };
  }

  /** Registers a listener for change batches; returns the function that removes it. */
  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Adds a named index for a type; it is filled from the records held now and kept up to date
   * through changes and resyncs. `byIndex(type, name, key)` reads it.
   * @throws ConnectError AlreadyExists when the type already has an index of that name
   */
  addIndex(type: string, name: string, keys: IndexFunction): void {
    const existing = this.#definitions(type);
    if (existing.some((d) => d.name === name)) {
      throw new ConnectError(`index "${name}" already exists for type ${type}`, Code.AlreadyExists);
    }
    const def: IndexDefinition = { name, keys };
    const host = this.#hostIndexes.get(type) ?? [];
    host.push(def);
    this.#hostIndexes.set(type, host);
    this.#tables.get(type)?.addIndex(def);
  }

  // ---- reads: synchronous, never throw ----

  /** True once any snapshot is in; with a type, once a snapshot covering that type is in. */
  isReady(type?: string): boolean {
    if (this.#state !== "ready") return false;
    if (type === undefined) return true;
    return this.#scopeOf.has(type) || this.#allTypesScope !== undefined;
  }

  get(type: string, id: string): CachedRecord | undefined {
    return this.#tables.get(type)?.get(id);
  }

  /** The session, or undefined when absent, not a Session, or invalid (expired) unless asked. */
  getSession(id: string, options?: ValidityOptions): Session | undefined {
    const record = this.#tables.get(SESSION_TYPE)?.get(id);
    const message = record?.message;
    if (!isSession(message)) return undefined;
    // Same rule as isSessionValid, with the limit computed once per record version.
    if (options?.includeInvalid !== true && this.#clock.now() > invalidAfterMs(record!, message, sessionInvalidAfterMs)) return undefined;
    return message;
  }

  getUser(id: string): User | undefined {
    const message = this.#tables.get(USER_TYPE)?.get(id)?.message;
    return isUser(message) ? message : undefined;
  }

  /** The service account, or undefined when absent or expired (unless asked). */
  getServiceAccount(id: string, options?: ValidityOptions): ServiceAccount | undefined {
    const record = this.#tables.get(SERVICE_ACCOUNT_TYPE)?.get(id);
    const message = record?.message;
    if (!isServiceAccount(message)) return undefined;
    if (options?.includeInvalid !== true && this.#clock.now() > invalidAfterMs(record!, message, serviceAccountInvalidAfterMs)) return undefined;
    return message;
  }

  /** The decoded data of a record, or undefined (absent, unknown type URL, malformed). */
  getMessage(type: string, id: string): Message | undefined {
    return this.#tables.get(type)?.get(id)?.message;
  }

  /**
   * Ids under `key` in a named index (built-in: sessions and service accounts by "user_id",
   * users by "email"; or added with addIndex), else in the index of a server indexable field of
   * that name. A live read-only view: read it now, copy it to keep it.
   */
  byIndex(type: string, indexName: string, key: string): ReadonlySet<string> {
    return this.#tables.get(type)?.byIndex(indexName, key) ?? EMPTY_IDS;
  }

  size(type: string): number {
    return this.#tables.get(type)?.size ?? 0;
  }

  /** How many records were skipped as malformed since the replica was created (snapshots and changes). */
  get malformedRecords(): number {
    return this.#malformedRecords;
  }

  /** The types the replica holds a table for. */
  types(): string[] {
    return [...this.#tables.keys()];
  }

  /** All records of a type (no copy; do not hold the iterator across events). */
  values(type: string): IterableIterator<CachedRecord> {
    return (this.#tables.get(type) ?? EMPTY_TABLE).values();
  }

  /**
   * The versions a type is synced to; with "" (the default) the versions of an all-types snapshot.
   * Undefined before a covering snapshot.
   */
  versions(type = ""): ReplicaVersions | undefined {
    const scope = type === "" ? this.#allTypesScope : (this.#scopeOf.get(type) ?? this.#allTypesScope);
    return scope === undefined ? undefined : { serverVersion: scope.serverVersion, recordVersion: scope.recordVersion };
  }

  /** The options held for a type (from the last snapshot or options event). */
  options(type: string): Options | undefined {
    return this.#tables.get(type)?.options;
  }

  /**
   * What the server's Query returns for the same data: the filter language, free-text match and
   * offset/limit of spec 6, with file/memory semantics (indexed-field equality needs the field in
   * the type's indexable_fields; "" queries every type).
   * @throws ConnectError InvalidArgument (bad filter, negative offset/limit), Unimplemented
   *   (unsupported operator, $not)
   */
  query(type: string, request: LocalQueryRequest = {}): QueryResponse {
    const versions = this.versions(type) ?? this.versions("");
    return queryTables(
      {
        table: (t) => this.#tables.get(t),
        types: () => [...this.#tables.keys()],
      },
      type,
      request,
      versions ?? { serverVersion: 0n, recordVersion: 0n },
    );
  }

  // ---- event handling ----

  #definitions(type: string): IndexDefinition[] {
    return [...builtInIndexes(type), ...(this.#hostIndexes.get(type) ?? [])];
  }

  #scopeFor(type: string): SyncScope | undefined {
    return this.#scopeOf.get(type) ?? this.#allTypesScope;
  }

  #applySnapshot(event: SnapshotEvent): ChangeBatch[] {
    const builder = this.#startSnapshot(event.type);
    builder.add(event.records);
    return builder.finish(event.serverVersion, event.recordVersion, event.options);
  }

  #startSnapshot(type: string): SnapshotBuilderState {
    const generation = ++this.#snapshotGeneration;
    const side = new Map<string, TypeTable>();
    let finished = false;
    const current = (): void => {
      if (finished) throw new ConnectError("snapshot already finished", Code.FailedPrecondition);
      if (generation !== this.#snapshotGeneration) {
        throw new ConnectError("snapshot superseded by a newer one", Code.Aborted);
      }
    };
    const add = (records: readonly RawRecord[]): void => {
      current();
      for (const raw of records) {
        // SyncLatest never sends tombstones or other types; ignore any that slip through.
        if (raw.deletedAt !== undefined) continue;
        if (type !== "" && raw.type !== type) continue;
        if (this.#isMalformed(raw)) continue;
        let table = side.get(raw.type);
        if (table === undefined) side.set(raw.type, (table = new TypeTable(raw.type, this.#definitions(raw.type), undefined)));
        const held = table.get(raw.id);
        if (held !== undefined && raw.version <= held.version) continue;
        table.put(reuseOrCreate(this.#tables.get(raw.type), raw));
      }
    };
    const finish = (serverVersion: bigint, recordVersion: bigint, options: ReadonlyMap<string, Options>): ChangeBatch[] => {
      current();
      finished = true;
      return this.#finishSnapshot(type, side, serverVersion, recordVersion, options);
    };
    return { add, finish };
  }

  #finishSnapshot(
    type: string,
    side: Map<string, TypeTable>,
    serverVersion: bigint,
    recordVersion: bigint,
    options: ReadonlyMap<string, Options>,
  ): ChangeBatch[] {
    const covered = new Set<string>();
    if (type === "") {
      for (const t of this.#tables.keys()) covered.add(t);
      for (const t of side.keys()) covered.add(t);
      for (const t of options.keys()) covered.add(t);
    } else {
      covered.add(type);
    }

    // Within one server version the position never moves back (a lagging instance's snapshot).
    let position = recordVersion;
    for (const t of covered) {
      const s = this.#scopeOf.get(t);
      if (s !== undefined && s.serverVersion === serverVersion && s.recordVersion > position) position = s.recordVersion;
    }
    const scope: SyncScope = { type, serverVersion, recordVersion: position };

    // Complete every covered table on the side; live tables keep serving until the swap below.
    const built: { table: TypeTable; old: TypeTable | undefined }[] = [];
    for (const t of covered) {
      const old = this.#tables.get(t);
      const sameServer = old !== undefined && this.#scopeOf.get(t)?.serverVersion === serverVersion;
      let table = side.get(t);
      if (table === undefined) table = new TypeTable(t, this.#definitions(t), undefined);
      // Indexes added by the host while the snapshot streamed in.
      for (const def of this.#definitions(t)) if (!table.hasNamedIndex(def.name)) table.addIndex(def);
      table.setOptions(options.get(t));
      if (old !== undefined && sameServer) {
        for (const previous of old.values()) {
          const next = table.get(previous.id);
          // Keep what the snapshot cannot know about (newer than its versions) or is older than held.
          if (next === undefined ? previous.version > recordVersion : next !== previous && previous.version >= next.version) {
            table.put(previous);
          }
        }
      }
      built.push({ table, old });
    }

    // The swap: one synchronous step, then the diffs.
    for (const { table } of built) {
      this.#tables.set(table.type, table);
      this.#scopeOf.set(table.type, scope);
    }
    if (type === "") this.#allTypesScope = scope;
    this.#state = "ready";

    return built.map(({ table, old }) => {
      const upserts: CachedRecord[] = [];
      const deletes: CachedRecord[] = [];
      for (const record of table.values()) if (old?.get(record.id) !== record) upserts.push(record);
      if (old !== undefined) for (const previous of old.values()) if (table.get(previous.id) === undefined) deletes.push(previous);
      return {
        kind: old === undefined ? "snapshot" : "resync",
        type: table.type,
        serverVersion: scope.serverVersion,
        recordVersion: scope.recordVersion,
        upserts,
        deletes,
      };
    });
  }

  #applyChange(event: ChangeEvent): ChangeBatch[] {
    // Check everything first so a bad event changes nothing.
    for (const raw of event.records) {
      const scope = this.#scopeFor(raw.type);
      if (scope !== undefined && scope.serverVersion !== event.serverVersion) {
        throw new ConnectError(
          `change for server version ${event.serverVersion} but the replica holds server version ${scope.serverVersion} for ${raw.type}: a snapshot must come first`,
          Code.FailedPrecondition,
        );
      }
    }
    // The state of each touched record before this event, to report only net differences.
    const before = new Map<string, Map<string, CachedRecord | undefined>>();
    for (const raw of event.records) {
      const scope = this.#scopeFor(raw.type);
      if (scope === undefined) continue; // a type no snapshot covers
      if (raw.version <= scope.recordVersion) continue; // already reflected: a replay
      scope.recordVersion = raw.version;
      let table = this.#tables.get(raw.type);
      const held = table?.get(raw.id);
      if (held !== undefined && raw.version <= held.version) continue;
      // A malformed update is not usable: it removes what was held, like a delete.
      const removes = raw.deletedAt !== undefined || this.#isMalformed(raw);
      if (removes && held === undefined) continue; // tombstone for an unknown id
      if (table === undefined) {
        // A new type under an all-types snapshot.
        table = new TypeTable(raw.type, this.#definitions(raw.type), undefined);
        this.#tables.set(raw.type, table);
        this.#scopeOf.set(raw.type, scope);
      }
      let touched = before.get(raw.type);
      if (touched === undefined) before.set(raw.type, (touched = new Map()));
      if (!touched.has(raw.id)) touched.set(raw.id, held);
      if (removes) table.delete(raw.id);
      else table.put(createRecord(raw));
    }

    const batches: ChangeBatch[] = [];
    for (const [type, touched] of before) {
      const table = this.#tables.get(type) as TypeTable;
      const upserts: CachedRecord[] = [];
      const deletes: CachedRecord[] = [];
      for (const [id, previous] of touched) {
        const now = table.get(id);
        if (now === previous) continue;
        if (now !== undefined) upserts.push(now);
        else if (previous !== undefined) deletes.push(previous);
      }
      if (upserts.length === 0 && deletes.length === 0) continue;
      const scope = this.#scopeOf.get(type) as SyncScope;
      batches.push({ kind: "change", type, serverVersion: scope.serverVersion, recordVersion: scope.recordVersion, upserts, deletes });
    }
    return batches;
  }

  #applyOptions(event: OptionsEvent): void {
    if (this.#scopeFor(event.type) === undefined) return;
    let table = this.#tables.get(event.type);
    if (table === undefined) {
      table = new TypeTable(event.type, this.#definitions(event.type), undefined);
      this.#tables.set(event.type, table);
      this.#scopeOf.set(event.type, this.#scopeFor(event.type) as SyncScope);
    }
    table.setOptions(event.options);
  }

  /** Checks a live record's data; counts and reports a malformed one. */
  #isMalformed(raw: RawRecord): boolean {
    if (raw.deletedAt !== undefined || !isMalformedRecordData(raw.typeUrl, raw.data)) return false;
    this.#malformedRecords++;
    if (this.#onMalformedRecord !== undefined) {
      try {
        this.#onMalformedRecord({ type: raw.type, typeUrl: raw.typeUrl, version: raw.version, dataLength: raw.data.length });
      } catch (error) {
        this.#onListenerError(error);
      }
    }
    return true;
  }

  #emit(batches: readonly ChangeBatch[]): void {
    for (const batch of batches) {
      for (const listener of this.#listeners) {
        try {
          listener(batch);
        } catch (error) {
          this.#onListenerError(error);
        }
      }
    }
  }
}

const EMPTY_TABLE = new TypeTable("", [], undefined);

function createRecord(raw: RawRecord): CachedRecord {
  return new CachedRecord(raw.type, raw.id, raw.version, raw.modifiedAt, raw.typeUrl, raw.data);
}

/** The held record when the incoming one has the same content (keeps its decoded message). */
function reuseOrCreate(old: TypeTable | undefined, raw: RawRecord): CachedRecord {
  const candidate = createRecord(raw);
  const held = old?.get(raw.id);
  return held !== undefined && sameContent(held, candidate) ? held : candidate;
}
