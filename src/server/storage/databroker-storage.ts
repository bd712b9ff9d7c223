/**
 * The in-memory databroker's storage engine: Pomerium's memory/file semantics (spec 3, 4, 5, 7,
 * 8) as a plain synchronous object with no gRPC in it. One global record version counter, a
 * change log with tombstones, options and their indexes, leases, the checkpoint, Clear and the
 * periodic cleaner.
 *
 * Stored Record messages are never mutated after they are stored; callers must not mutate what
 * they get back either.
 */
import { clone, create, equals } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs, TimestampSchema, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { OptionsSchema, RecordSchema, type Options, type Record } from "../../../gen/databroker/databroker_pb.js";
import { CidrIndex, recordIndexCidr } from "../../query/cidr-index.js";
import { compareUtf8, type FilterExpression } from "../../query/filter-expression.js";
import { evaluateFilter, type FilterSource } from "../../query/filter-evaluation.js";
import type { Sequence } from "../../query/sorted-merge.js";
import { indexableFieldValues } from "../../query/indexable-fields.js";
import { defaultOptions } from "./default-options.js";
import { FieldIndex } from "./field-index.js";
import { patchRecordData } from "./record-data-patch.js";
import { randomServerVersion } from "./random-server-version.js";
import { StorageError } from "./storage-error.js";

export interface DatabrokerStorageOptions {
  /** Initial server version; default random non-zero uint64. */
  readonly serverVersion?: bigint;
  /** Clock in Unix milliseconds; injectable for tests. */
  readonly now?: () => number;
  /** Source of new server versions (start without serverVersion, and every Clear). */
  readonly newServerVersion?: () => bigint;
  /** Install Pomerium's default options at creation (spec 7). Default true. */
  readonly installDefaultOptions?: boolean;
}

export interface StorageVersions {
  readonly serverVersion: bigint;
  readonly earliestRecordVersion: bigint;
  readonly latestRecordVersion: bigint;
}

/** Options as stored: Pomerium can hold a type's options as "present but nil" (SetOptions without options). */
type StoredOptions = { readonly options: Options | undefined };

export interface StorageListener {
  /** Something was appended to the change log (put, delete, eviction, TTL expiry). */
  onChange?(): void;
  /** Clear ran: every running Sync/SyncLatest must end with CANCELLED. */
  onClear?(): void;
}

/** Why a Sync may not start (spec 5). */
export type SyncStartCheck = "ok" | "invalid server version" | "invalid record version";

export class DatabrokerStorage {
  private readonly now: () => number;
  private readonly newServerVersion: () => bigint;

  private serverVersionValue: bigint;
  private earliestRecordVersion = 0n;
  private latestRecordVersion = 0n;

  /**
   * type -> id -> live record. Invariant: each type's map iterates in ascending version (a write
   * re-inserts its id at the end), so the oldest live records come first and capacity evicts
   * without sorting.
   */
  private readonly records = new Map<string, Map<string, Record>>();
  /** Every retained change, ascending version. */
  private changes: Record[] = [];
  private readonly options = new Map<string, StoredOptions>();
  private readonly fieldIndex = new FieldIndex();
  private readonly cidrIndex = new CidrIndex();
  private readonly leases = new Map<string, { id: string; expiresAtMs: number }>();
  private checkpoint = { serverVersion: 0n, recordVersion: 0n };
  private readonly listeners = new Set<StorageListener>();

  constructor(options: DatabrokerStorageOptions = {}) {
    this.now = options.now ?? Date.now;
    this.newServerVersion = options.newServerVersion ?? randomServerVersion;
    this.serverVersionValue = options.serverVersion ?? this.newServerVersion();
    if (options.installDefaultOptions ?? true) {
      for (const [type, opts] of defaultOptions()) this.setOptions(type, opts);
    }
  }

  // ---- listeners ----

  subscribe(listener: StorageListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notifyChange(): void {
    for (const l of [...this.listeners]) l.onChange?.();
  }

  // ---- versions ----

  get serverVersion(): bigint {
    return this.serverVersionValue;
  }

  versions(): StorageVersions {
    return {
      serverVersion: this.serverVersionValue,
      earliestRecordVersion: this.earliestRecordVersion,
      latestRecordVersion: this.latestRecordVersion,
    };
  }

  // ---- reads ----

  /** The live record, or undefined (deleted records are gone from the live set). */
  get(type: string, id: string): Record | undefined {
    return this.records.get(type)?.get(id);
  }

  /** Types that have at least one live record, byte-sorted. */
  listTypes(): string[] {
    return [...this.records.keys()].filter((t) => (this.records.get(t)?.size ?? 0) > 0).sort(compareUtf8);
  }

  /**
   * Options of a type: undefined when the type has none (NOT_FOUND at the API); `{options:
   * undefined}` when Pomerium would hold nil options (set without an options message).
   */
  getOptions(type: string): StoredOptions | undefined {
    return this.options.get(type);
  }

  /** Live records of a type ("" = all) in (type, id) byte order. */
  listRecords(type: string): Record[] {
    const types = type === "" ? this.listTypes() : [type];
    const out: Record[] = [];
    for (const t of types) {
      const byId = this.records.get(t);
      if (byId === undefined) continue;
      const ids = [...byId.keys()].sort(compareUtf8);
      for (const id of ids) out.push(byId.get(id) as Record);
    }
    return out;
  }

  /**
   * The filtered live records (Query's first step). The sequence may end in an error
   * (UNIMPLEMENTED operators), exactly where Pomerium's iterator would yield it.
   */
  queryRecords(type: string, filter: FilterExpression | undefined): Sequence<Record> {
    return evaluateFilter(this.filterSource, type, filter);
  }

  private readonly filterSource: FilterSource<Record> = {
    listRecords: (type) => this.listRecords(type),
    recordsWithId: (type, id) => {
      const types = type === "" ? this.listTypes() : [type];
      return types.map((t) => {
        const r = this.get(t, id);
        return { items: r === undefined ? [] : [r] };
      });
    },
    recordsForCidr: (type, value) => {
      const out: Record[] = [];
      for (const entry of this.cidrIndex.lookup(type, value)) {
        const r = this.get(entry.type, entry.id);
        if (r !== undefined) out.push(r);
      }
      return out;
    },
    recordsForIndexedField: (type, field, value) => {
      const out: Record[] = [];
      for (const id of this.fieldIndex.lookup(type, field, value)) {
        const r = this.get(type, id);
        // An entry whose record is gone is dropped, as Pomerium cleans up orphaned index entries.
        if (r === undefined) this.fieldIndex.removeEntry(type, field, value, id);
        else out.push(r);
      }
      return out;
    },
  };

  // ---- sync ----

  checkSyncStart(serverVersion: bigint, afterRecordVersion: bigint): SyncStartCheck {
    if (serverVersion !== this.serverVersionValue) return "invalid server version";
    if (this.earliestRecordVersion > 0n && afterRecordVersion < this.earliestRecordVersion - 1n) return "invalid record version";
    return "ok";
  }

  /** Retained changes with version > afterRecordVersion, ascending; type "" = all types. */
  changesAfter(type: string, afterRecordVersion: bigint, max = Number.POSITIVE_INFINITY): Record[] {
    return this.scanChangesAfter(type, afterRecordVersion, max).records;
  }

  /**
   * Like {@link changesAfter}, and also how far the log was examined: `scannedThrough` is the
   * version of the last change looked at (matching or not), or `afterRecordVersion` when none
   * was. A Sync stream for one type resumes from there, so changes of other types are skipped
   * once instead of on every wake-up (otherwise each write costs O(log since the type's last
   * change) per stream).
   */
  scanChangesAfter(type: string, afterRecordVersion: bigint, max = Number.POSITIVE_INFINITY): { records: Record[]; scannedThrough: bigint } {
    let lo = 0;
    let hi = this.changes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.changes[mid] as Record).version <= afterRecordVersion) lo = mid + 1;
      else hi = mid;
    }
    const records: Record[] = [];
    let scannedThrough = afterRecordVersion;
    for (let i = lo; i < this.changes.length && records.length < max; i++) {
      const change = this.changes[i] as Record;
      scannedThrough = change.version;
      if (type === "" || change.type === type) records.push(change);
    }
    return { records, scannedThrough };
  }

  // ---- writes ----

  /**
   * Put (spec 3): stores clones with a new version and modified_at each; a record with deleted_at
   * deletes (no-op when absent) and is echoed unchanged; capacity is enforced afterwards for
   * every type in the batch.
   */
  put(input: readonly Record[]): { serverVersion: bigint; records: Record[] } {
    const types = new Set<string>();
    const out: Record[] = [];
    let changed = false;
    for (const original of input) {
      types.add(original.type);
      const record = clone(RecordSchema, original);
      if (record.deletedAt !== undefined) {
        // Pomerium removes index entries computed from the REQUEST's data here, not the stored data.
        this.removeFieldIndexEntries(record);
        changed = this.deleteRecord(record.type, record.id) || changed;
        out.push(record);
      } else {
        out.push(this.updateRecord(record));
        changed = true;
      }
    }
    for (const type of types) changed = this.enforceCapacity(type) || changed;
    if (changed) this.notifyChange();
    return { serverVersion: this.serverVersionValue, records: out };
  }

  /**
   * Patch (spec 8). Missing records are skipped; the first failing record fails the whole call
   * with UNKNOWN and Pomerium's wrapped error text. Unlike Pomerium (whose in-memory counters
   * can move on a failed batch), a failed Patch changes nothing at all: every record is
   * validated before any is written.
   */
  patch(input: readonly Record[], paths: readonly string[]): { serverVersion: bigint; records: Record[] } {
    const types = new Set<string>();
    // Pomerium patches record by record, so a later entry sees an earlier one's result.
    const staged = new Map<string, Record | null>();
    const planned: Record[] = [];
    for (const original of input) {
      types.add(original.type);
      const key = `${original.type}\u0000${original.id}`;
      const existing = staged.has(key) ? staged.get(key) ?? undefined : this.get(original.type, original.id);
      if (existing === undefined) continue;
      const record = clone(RecordSchema, original);
      try {
        record.data = patchRecordData(existing.data, record.data, paths);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new StorageError(
          "UNKNOWN",
          `storage.pebble: Patch failed: pebble: error patching record (type=${record.type} id=${record.id}): pebble: error patching record: ${reason}`,
        );
      }
      staged.set(key, record.deletedAt === undefined ? record : null);
      planned.push(record);
    }
    const out = planned.map((record) => {
      if (record.deletedAt === undefined) return this.updateRecord(record);
      // A patch carrying deleted_at deletes, as Pomerium's shared update path does.
      this.removeFieldIndexEntries(record);
      this.deleteRecord(record.type, record.id);
      return record;
    });
    let changed = out.length > 0;
    for (const type of types) changed = this.enforceCapacity(type) || changed;
    if (changed) this.notifyChange();
    return { serverVersion: this.serverVersionValue, records: out };
  }

  /**
   * SetOptions (spec 7): an empty Options deletes the type's options; indexes follow the new
   * indexable_fields (dropped fields lose their entries, added fields are indexed on existing
   * records). Nothing is evicted here.
   */
  setOptions(type: string, options: Options | undefined): void {
    const existing = this.options.get(type)?.options?.indexableFields ?? [];
    const next = options?.indexableFields ?? [];
    const toDelete = existing.filter((f) => !next.includes(f));
    const toAdd = next.filter((f) => !existing.includes(f));
    for (const field of toDelete) this.fieldIndex.removeField(type, field);
    if (options !== undefined && equals(OptionsSchema, options, create(OptionsSchema))) {
      this.options.delete(type);
    } else {
      this.options.set(type, { options: options === undefined ? undefined : clone(OptionsSchema, options) });
    }
    if (!this.options.has(type) || toAdd.length === 0) return;
    for (const record of this.records.get(type)?.values() ?? []) {
      const values = indexableFieldValues(record.data, toAdd);
      if (values !== undefined) this.fieldIndex.add(type, values, record.id);
    }
  }

  // ---- leases ----

  // Invariant: an absent lease and an expired one behave the same for every operation (acquire,
  // renew and release all succeed on both), so only unexpired leases need to be kept. Release
  // and a non-positive duration delete the entry; the cleaner drops entries that expired since.
  // Pomerium keeps every lease name it has seen; a lease name can be any size, so ours would
  // otherwise grow without bound.

  /**
   * Acquires or renews: succeeds when the lease is absent, expired, or held under the same id.
   * A zero (or negative) duration leaves the lease expired at once.
   */
  lease(name: string, id: string, durationMs: number): boolean {
    const now = this.now();
    const current = this.leases.get(name);
    if (current !== undefined && current.id !== id && current.expiresAtMs > now) return false;
    if (durationMs > 0) this.leases.set(name, { id, expiresAtMs: now + durationMs });
    else this.leases.delete(name);
    return true;
  }

  /** Expires the lease if `id` holds it (or it is expired already); always succeeds. */
  releaseLease(name: string, id: string): void {
    const current = this.leases.get(name);
    if (current !== undefined && (current.id === id || current.expiresAtMs <= this.now())) this.leases.delete(name);
  }

  /** How many leases are kept, and the characters of their names and ids (what they cost in memory). */
  leaseFootprint(): { leases: number; chars: number } {
    let chars = 0;
    for (const [name, lease] of this.leases) chars += name.length + lease.id.length;
    return { leases: this.leases.size, chars };
  }

  // ---- checkpoint ----

  getCheckpoint(): { serverVersion: bigint; recordVersion: bigint } {
    return { ...this.checkpoint };
  }

  setCheckpoint(serverVersion: bigint, recordVersion: bigint): void {
    this.checkpoint = { serverVersion, recordVersion };
  }

  // ---- clear & cleanup ----

  /** Clear (spec 8): new server version, everything but leases wiped, streams cancelled. */
  clear(): { oldServerVersion: bigint; newServerVersion: bigint } {
    const oldServerVersion = this.serverVersionValue;
    this.serverVersionValue = this.newServerVersion();
    this.records.clear();
    this.changes = [];
    this.options.clear();
    this.fieldIndex.clear();
    this.cidrIndex.clear();
    this.checkpoint = { serverVersion: 0n, recordVersion: 0n };
    this.earliestRecordVersion = 0n;
    this.latestRecordVersion = 0n;
    for (const l of [...this.listeners]) l.onClear?.();
    return { oldServerVersion, newServerVersion: this.serverVersionValue };
  }

  /**
   * One run of Pomerium's periodic cleaner: drop changes modified before now - retention
   * (always keeping the newest), then delete live records past their type's ttl. Also forgets
   * expired leases (ours only; see the lease invariant).
   */
  clean(changeRetentionMs: number): void {
    const now = this.now();
    for (const [name, lease] of this.leases) if (lease.expiresAtMs <= now) this.leases.delete(name);
    const cutoff = now - changeRetentionMs;
    this.compactChanges((change) => timestampMs(change.modifiedAt) < cutoff);
    let expired = false;
    for (const type of this.listTypes()) {
      const ttlMs = durationMs(this.options.get(type)?.options?.ttl);
      if (ttlMs === undefined || ttlMs <= 0) continue;
      const typeCutoff = this.now() - ttlMs;
      const expiredIds = this.listRecords(type)
        .filter((r) => timestampMs(r.modifiedAt) < typeCutoff)
        .map((r) => r.id);
      for (const id of expiredIds) expired = this.deleteRecord(type, id) || expired;
    }
    if (expired) this.notifyChange();
  }

  /** Drops every change except the newest, as if all were older than the retention. */
  compactAll(): void {
    this.compactChanges(() => true);
  }

  private compactChanges(isOld: (change: Record) => boolean): void {
    let removed = 0;
    // Always keep the newest change so version numbers stay known.
    while (removed < this.changes.length - 1 && isOld(this.changes[removed] as Record)) {
      const change = this.changes[removed] as Record;
      if (change.version + 1n > this.earliestRecordVersion) this.earliestRecordVersion = change.version + 1n;
      removed++;
    }
    if (removed > 0) this.changes = this.changes.slice(removed);
  }

  // ---- internals ----

  private updateRecord(record: Record): Record {
    const existing = this.get(record.type, record.id);
    if (existing !== undefined) {
      const prefix = recordIndexCidr(existing.data);
      if (prefix !== undefined) this.cidrIndex.delete(prefix, { type: existing.type, id: existing.id });
      this.removeFieldIndexEntries(existing);
    }
    this.latestRecordVersion++;
    record.modifiedAt = this.nowTimestamp();
    record.version = this.latestRecordVersion;
    record.deletedAt = undefined;
    this.changes.push(record);
    let byId = this.records.get(record.type);
    if (byId === undefined) this.records.set(record.type, (byId = new Map()));
    byId.delete(record.id); // to the end: the map stays in version order
    byId.set(record.id, record);
    const prefix = recordIndexCidr(record.data);
    if (prefix !== undefined) this.cidrIndex.add(prefix, { type: record.type, id: record.id });
    this.addFieldIndexEntries(record);
    return record;
  }

  /** Removes a live record and appends its tombstone; false when there was nothing to delete. */
  private deleteRecord(type: string, id: string): boolean {
    const byId = this.records.get(type);
    const existing = byId?.get(id);
    if (byId === undefined || existing === undefined) return false;
    byId.delete(id);
    if (byId.size === 0) this.records.delete(type);
    const prefix = recordIndexCidr(existing.data);
    if (prefix !== undefined) this.cidrIndex.delete(prefix, { type, id });
    this.latestRecordVersion++;
    const now = this.nowTimestamp();
    // Stored records are never mutated, so the tombstone shares the last data with the record
    // it replaces instead of copying it.
    const tombstone: Record = { ...existing, modifiedAt: now, deletedAt: clone(TimestampSchema, now), version: this.latestRecordVersion };
    this.changes.push(tombstone);
    return true;
  }

  /** Keeps the newest `capacity` records of a type by version; evictions become tombstones. */
  private enforceCapacity(type: string): boolean {
    const capacity = this.options.get(type)?.options?.capacity;
    if (capacity === undefined) return false;
    const byId = this.records.get(type);
    if (byId === undefined || BigInt(byId.size) <= capacity) return false;
    // Oldest first (the records invariant); taken before deleting, which changes the map.
    const excess = byId.size - Number(capacity);
    const evict: string[] = [];
    for (const id of byId.keys()) {
      if (evict.length === excess) break;
      evict.push(id);
    }
    // Pomerium walks the type newest first and deletes past the capacity: the newest evicted
    // record gets the first tombstone.
    for (const id of evict.reverse()) this.deleteRecord(type, id);
    return true;
  }

  private indexedFieldsOf(type: string): string[] {
    const stored = this.options.get(type);
    return stored?.options?.indexableFields ?? [];
  }

  private addFieldIndexEntries(record: Record): void {
    if (!this.options.has(record.type)) return;
    const fields = this.indexedFieldsOf(record.type);
    if (fields.length === 0) return;
    const values = indexableFieldValues(record.data, fields);
    if (values !== undefined) this.fieldIndex.add(record.type, values, record.id);
  }

  private removeFieldIndexEntries(record: Record): void {
    if (!this.options.has(record.type)) return;
    const fields = this.indexedFieldsOf(record.type);
    if (fields.length === 0) return;
    const values = indexableFieldValues(record.data, fields);
    if (values !== undefined) this.fieldIndex.remove(record.type, values, record.id);
  }

  private nowTimestamp(): Timestamp {
    return timestampFromMs(this.now());
  }
}

function timestampMs(ts: Timestamp | undefined): number {
  return ts === undefined ? 0 : timestampDate(ts).getTime();
}

function durationMs(d: Duration | undefined): number | undefined {
  if (d === undefined) return undefined;
  return Number(d.seconds) * 1000 + d.nanos / 1e6;
}
