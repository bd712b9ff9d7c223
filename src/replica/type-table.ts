/**
 * The records of one type: id lookup, named indexes and the server's indexable-field indexes.
 * A table is either live (read by callers) or being built on the side during a resync; it has no
 * notion of versions beyond each record's own, which the replica compares before calling in.
 *
 * A live table changes its indexes through builds (index-build.ts): `beginOptions` and
 * `beginIndex` return the side work, which put and delete keep in step until it is swapped in.
 * A table being built on the side uses the `...Steps` generators instead (nobody reads it yet).
 */
import { clone } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { OptionsSchema, type Options } from "../../gen/databroker/databroker_pb.js";
import { deepFreezeMessage } from "../records/frozen-message.js";
import { extractIndexableFields, parseIndexableField, type IndexableFieldPath } from "../records/indexable-fields.js";
import { schemaForTypeUrl } from "../records/record-registry.js";
import type { Message } from "@bufbuild/protobuf";
import type { Clock } from "../records/clock.js";
import { isOfType, isPastLimit, recordBytes, type CachedRecord } from "./cached-record.js";
import type { IndexBuild } from "./index-build.js";
import { forEachKey, type IndexDefinition } from "./index-definitions.js";
import { EMPTY_IDS, KeyIndex } from "./key-index.js";
import { FRONT_MISS, RecordFront, type ValidityLimit } from "./record-front.js";
import { ShardedMap } from "./sharded-map.js";

/** Sliced work pauses every 256 records. */
const SLICE_MASK = 255;

function drainSteps(steps: Generator<void, void, void>): void {
  while (steps.next().done !== true);
}

/** The field indexes for one set of indexable_fields, and the options that named them. */
interface FieldIndexes {
  readonly options: Options | undefined;
  readonly paths: readonly IndexableFieldPath[];
  readonly indexes: ReadonlyMap<string, KeyIndex>;
}

/** Indexes under construction on a live table, kept in step by put and delete. */
interface PendingIndexes {
  /** The named index's name; undefined for a field index set. */
  readonly name: string | undefined;
  add(record: CachedRecord): void;
  remove(record: CachedRecord): void;
}

/** A field index build in progress on a live table, with the options it will swap in. */
interface FieldBuild {
  readonly fields: FieldIndexes;
  readonly build: IndexBuild;
  /** The latest options naming these fields (a newer one with the same fields replaces it). */
  options: Options | undefined;
}

/**
 * What `options()` hands out: a frozen copy (callers cannot change what the indexes were built
 * from, nor what other readers see). Options are small and change rarely.
 */
function readonlyOptions(options: Options | undefined): Options | undefined {
  if (options === undefined || Object.isFrozen(options)) return options;
  return deepFreezeMessage(OptionsSchema, clone(OptionsSchema, options));
}

function fieldIndexes(options: Options | undefined): FieldIndexes {
  // Duplicate names in indexable_fields would index twice; keep the first.
  const names = [...new Set(options?.indexableFields ?? [])];
  return {
    options: readonlyOptions(options),
    paths: names.map(parseIndexableField),
    indexes: new Map(names.map((name) => [name, new KeyIndex()])),
  };
}

function sameFields(a: FieldIndexes, options: Options | undefined): boolean {
  const names = [...new Set(options?.indexableFields ?? [])];
  return a.paths.length === names.length && a.paths.every((p, i) => p.name === names[i]);
}

function indexFieldsOf(fields: FieldIndexes, record: CachedRecord, add: boolean): void {
  const paths = fields.paths;
  if (paths.length === 0) return;
  const schema = schemaForTypeUrl(record.typeUrl);
  if (schema === undefined) return;
  const keys = extractIndexableFields(schema, recordBytes(record), paths);
  if (keys === undefined) return;
  for (let i = 0; i < keys.length; i++) {
    const index = fields.indexes.get((paths[i] as IndexableFieldPath).name) as KeyIndex;
    if (add) index.add(keys[i] as string, record.id);
    else index.delete(keys[i] as string, record.id);
  }
}

export class TypeTable {
  readonly type: string;
  // Sharded: a 1M-entry Map's growth rehash alone stalls the event loop for 100+ ms.
  readonly #records = new ShardedMap<CachedRecord>();
  /** Recently read records (record-front.ts): told of every change to #records, in put and delete. */
  readonly #front = new RecordFront();
  readonly #named = new Map<string, { def: IndexDefinition; index: KeyIndex }>();
  #fields: FieldIndexes;
  /** Builds in progress on this live table (usually none). */
  readonly #pending: PendingIndexes[] = [];
  #fieldBuild: FieldBuild | undefined;

  constructor(type: string, definitions: readonly IndexDefinition[], options: Options | undefined) {
    this.type = type;
    for (const def of definitions) this.#named.set(def.name, { def, index: new KeyIndex() });
    this.#fields = fieldIndexes(options);
  }

  get size(): number {
    return this.#records.size;
  }

  /** The options the field indexes answer by (frozen); a pending change shows once swapped in. */
  get options(): Options | undefined {
    return this.#fields.options;
  }

  /**
   * The record under `id`, without remembering it in the front: for the replica's own
   * bookkeeping (snapshots, changes, compaction), which goes through every record and would
   * otherwise push the records readers use out of the front.
   */
  peek(id: string): CachedRecord | undefined {
    return this.#records.get(id);
  }

  get(id: string): CachedRecord | undefined {
    // Reads never throw: an id that is not a string (from untyped callers) skips the front.
    if (typeof id !== "string") return this.#records.get(id);
    const held = this.#front.get(id);
    if (held !== undefined) return held;
    const record = this.#records.get(id);
    if (record !== undefined) this.#front.fill(record);
    return record;
  }

  /**
   * A typed read (the replica's getSession, getUser, getServiceAccount): the decoded message of
   * the record under `id` when it is a `typeName` (else undefined), and undefined when the clock
   * is past the limit `rule` gives it, unless `includeInvalid`. Without `clock`, the coarse
   * system clock (records/clock.ts).
   */
  getTyped(id: string, typeName: string, rule: ValidityLimit, includeInvalid: boolean, clock: Clock | undefined): Message | undefined {
    if (typeof id === "string") {
      const held = this.#front.readTyped(id, rule, includeInvalid, clock);
      if (held !== FRONT_MISS) return held;
    }
    const record = this.get(id);
    if (record === undefined || !isOfType(record, typeName as never, rule as (message: Message) => number)) return undefined;
    const message = record.message as Message;
    if (typeof id === "string") this.#front.fillTyped(record, rule, message);
    if (!includeInvalid && isPastLimit(record, clock)) return undefined;
    return message;
  }

  /** The replica's bound on decoded messages let go of `record`'s message: so does the read front. */
  dropMessage(record: CachedRecord): void {
    this.#front.dropMessage(record);
  }

  values(): IterableIterator<CachedRecord> {
    return this.#records.values();
  }

  /** Inserts or replaces the record with the same id, keeping every index in step. */
  put(record: CachedRecord): void {
    const previous = this.#records.get(record.id);
    if (previous === record) return;
    if (previous !== undefined) this.#unindex(previous);
    this.#records.set(record.id, record);
    this.#front.forget(record.id);
    if (previous === undefined) this.#front.fit(this.#records.size);
    this.#index(record);
  }

  /** Removes the record with this id; returns it, or undefined if absent. */
  delete(id: string): CachedRecord | undefined {
    const previous = this.#records.get(id);
    if (previous === undefined) return undefined;
    this.#unindex(previous);
    this.#records.delete(id);
    this.#front.forget(id);
    return previous;
  }

  /**
   * Ids under `key` in a named index, else in a field index of that name; empty when neither.
   * @throws ConnectError Unavailable while a named index of that name is being built
   */
  byIndex(name: string, key: string): ReadonlySet<string> {
    const named = this.#named.get(name);
    if (named !== undefined) return named.index.get(key);
    if (this.#pending.length > 0 && this.#pending.some((p) => p.name === name)) {
      throw new ConnectError(`index "${name}" of ${this.type} is still being built`, Code.Unavailable);
    }
    return this.#fields.indexes.get(name)?.get(key) ?? EMPTY_IDS;
  }

  /** Ids under `key` in the server-style index of an indexable field; empty when not indexed. */
  byField(field: string, key: string): ReadonlySet<string> {
    return this.#fields.indexes.get(field)?.get(key) ?? EMPTY_IDS;
  }

  /** True when the table has, or is building, a named index of that name. */
  hasNamedIndex(name: string): boolean {
    return this.#named.has(name) || this.#pending.some((p) => p.name === name);
  }

  /** Adds a named index and fills it at once; only for a table not yet live (see beginIndex). */
  addIndex(def: IndexDefinition): void {
    drainSteps(this.addIndexSteps(def));
  }

  /**
   * addIndex in slices (each `yield` is a point to pause at). Only for a table nobody else
   * mutates meanwhile: one being built on the side.
   */
  *addIndexSteps(def: IndexDefinition): Generator<void, void, void> {
    const index = new KeyIndex();
    this.#named.set(def.name, { def, index });
    let n = 0;
    for (const record of this.#records.values()) {
      if ((++n & SLICE_MASK) === 0) yield;
      forEachKey(def, record, (k) => index.add(k, record.id));
    }
  }

  /**
   * Replaces the options, re-indexing the fields when indexable_fields change, in slices; like
   * {@link addIndexSteps}, only for a table built on the side.
   */
  *setOptionsSteps(options: Options | undefined): Generator<void, void, void> {
    if (sameFields(this.#fields, options)) {
      this.#fields = { ...this.#fields, options: readonlyOptions(options) };
      return;
    }
    const fields = fieldIndexes(options);
    this.#fields = fields;
    let n = 0;
    for (const record of this.#records.values()) {
      if ((++n & SLICE_MASK) === 0) yield;
      indexFieldsOf(fields, record, true);
    }
  }

  /**
   * A named index for this live table, built on the side (run the build with index-build.ts);
   * until it is swapped in, byIndex of that name throws ConnectError Unavailable.
   */
  beginIndex(def: IndexDefinition): IndexBuild {
    const index = new KeyIndex();
    const pending: PendingIndexes = {
      name: def.name,
      add: (record) => forEachKey(def, record, (k) => index.add(k, record.id)),
      remove: (record) => forEachKey(def, record, (k) => index.delete(k, record.id)),
    };
    return this.#beginBuild(pending, () => this.#named.set(def.name, { def, index }));
  }

  /**
   * New options for this live table. When indexable_fields stay the same, they apply at once
   * (undefined is returned); else the new field indexes are built on the side (the build is
   * returned, to run with index-build.ts) and the options and indexes change together at its
   * swap. A newer call supersedes a build still in progress.
   */
  beginOptions(options: Options | undefined): IndexBuild | undefined {
    const building = this.#fieldBuild;
    if (building !== undefined) {
      if (sameFields(building.fields, options)) {
        building.options = options; // the same fields are being built: swap these options in
        return undefined;
      }
      building.build.cancel();
    }
    if (sameFields(this.#fields, options)) {
      this.#fields = { ...this.#fields, options: readonlyOptions(options) };
      return undefined;
    }
    const fields = fieldIndexes(options);
    const pending: PendingIndexes = {
      name: undefined,
      add: (record) => indexFieldsOf(fields, record, true),
      remove: (record) => indexFieldsOf(fields, record, false),
    };
    let entry: FieldBuild | undefined;
    const build = this.#beginBuild(
      pending,
      () => {
        this.#fields = { ...fields, options: readonlyOptions(entry?.options) };
        this.#fieldBuild = undefined;
      },
      () => {
        if (this.#fieldBuild === entry) this.#fieldBuild = undefined;
      },
    );
    entry = { fields, build, options };
    this.#fieldBuild = entry;
    return build;
  }

  /**
   * The side work of a live build: a scan of the held records in slices; records put or
   * deleted meanwhile reach `pending` through put and delete.
   */
  #beginBuild(pending: PendingIndexes, swapIn: () => void, onCancel?: () => void): IndexBuild {
    this.#pending.push(pending);
    // A sharded map that splits during the scan leaves this iterator on its old entries: records
    // replaced or deleted since are skipped by the identity check below, records added since
    // were indexed by put.
    const scan = this.#records.values();
    let ended = false;
    const end = (): void => {
      ended = true;
      const at = this.#pending.indexOf(pending);
      if (at >= 0) this.#pending.splice(at, 1);
    };
    return {
      table: this,
      get ended() {
        return ended;
      },
      step: (deadline, onError) => {
        if (ended) return true;
        let n = 0;
        for (;;) {
          const next = scan.next();
          if (next.done === true) return true;
          const record = next.value;
          if (this.#records.get(record.id) === record) {
            try {
              pending.add(record);
            } catch (error) {
              onError(error);
            }
          }
          if ((++n & SLICE_MASK) === 0 && performance.now() >= deadline) return false;
        }
      },
      swap: () => {
        if (ended) return;
        end();
        swapIn();
      },
      cancel: () => {
        if (ended) return;
        end();
        onCancel?.();
      },
    };
  }

  #index(record: CachedRecord): void {
    for (const { def, index } of this.#named.values()) forEachKey(def, record, (k) => index.add(k, record.id));
    indexFieldsOf(this.#fields, record, true);
    if (this.#pending.length > 0) for (const p of this.#pending) p.add(record);
  }

  #unindex(record: CachedRecord): void {
    for (const { def, index } of this.#named.values()) forEachKey(def, record, (k) => index.delete(k, record.id));
    indexFieldsOf(this.#fields, record, false);
    if (this.#pending.length > 0) for (const p of this.#pending) p.remove(record);
  }
}
