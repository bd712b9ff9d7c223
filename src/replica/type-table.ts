/**
 * The records of one type: id lookup, named indexes and the server's indexable-field indexes.
 * A table is either live (read by callers) or being built on the side during a resync; it has no
 * notion of versions beyond each record's own, which the replica compares before calling in.
 */
import type { Options } from "../../gen/databroker/databroker_pb.js";
import { extractIndexableFields, parseIndexableField, type IndexableFieldPath } from "../records/indexable-fields.js";
import { schemaForTypeUrl } from "../records/record-registry.js";
import { recordBytes, type CachedRecord } from "./cached-record.js";
import { forEachKey, type IndexDefinition } from "./index-definitions.js";
import { KeyIndex } from "./key-index.js";
import { ShardedMap } from "./sharded-map.js";

const EMPTY: ReadonlySet<string> = Object.freeze(new Set<string>());
/** Sliced work pauses every 256 records. */
const SLICE_MASK = 255;

function drainSteps(steps: Generator<void, void, void>): void {
  while (steps.next().done !== true);
}

export class TypeTable {
  readonly type: string;
  // Sharded: a 1M-entry Map's growth rehash alone stalls the event loop for 100+ ms.
  readonly #records = new ShardedMap<CachedRecord>();
  readonly #named = new Map<string, { def: IndexDefinition; index: KeyIndex }>();
  #options: Options | undefined;
  #fieldPaths: IndexableFieldPath[] = [];
  readonly #fieldIndexes = new Map<string, KeyIndex>();

  constructor(type: string, definitions: readonly IndexDefinition[], options: Options | undefined) {
    this.type = type;
    for (const def of definitions) this.#named.set(def.name, { def, index: new KeyIndex() });
    this.#setFieldPaths(options);
  }

  get size(): number {
    return this.#records.size;
  }

  get options(): Options | undefined {
    return this.#options;
  }

  get(id: string): CachedRecord | undefined {
    return this.#records.get(id);
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
    this.#index(record);
  }

  /** Removes the record with this id; returns it, or undefined if absent. */
  delete(id: string): CachedRecord | undefined {
    const previous = this.#records.get(id);
    if (previous === undefined) return undefined;
    this.#unindex(previous);
    this.#records.delete(id);
    return previous;
  }

  /** Ids under `key` in a named index, else in a field index of that name; empty when neither. */
  byIndex(name: string, key: string): ReadonlySet<string> {
    const named = this.#named.get(name);
    if (named !== undefined) return named.index.get(key);
    return this.#fieldIndexes.get(name)?.get(key) ?? EMPTY;
  }

  /** Ids under `key` in the server-style index of an indexable field; empty when not indexed. */
  byField(field: string, key: string): ReadonlySet<string> {
    return this.#fieldIndexes.get(field)?.get(key) ?? EMPTY;
  }

  hasNamedIndex(name: string): boolean {
    return this.#named.has(name);
  }

  /** Adds a named index and fills it from the records already held. */
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

  /** Replaces the options; the field indexes are rebuilt when indexable_fields change. */
  setOptions(options: Options | undefined): void {
    drainSteps(this.setOptionsSteps(options));
  }

  /** setOptions in slices; like {@link addIndexSteps}, only for a table built on the side. */
  *setOptionsSteps(options: Options | undefined): Generator<void, void, void> {
    const before = this.#fieldPaths.map((p) => p.name).join("\n");
    const after = (options?.indexableFields ?? []).join("\n");
    this.#options = options;
    if (before === after) return;
    this.#setFieldPaths(options);
    let n = 0;
    for (const record of this.#records.values()) {
      if ((++n & SLICE_MASK) === 0) yield;
      this.#indexFields(record, true);
    }
  }

  #setFieldPaths(options: Options | undefined): void {
    this.#options = options;
    // Duplicate names in indexable_fields would index twice; keep the first.
    const names = [...new Set(options?.indexableFields ?? [])];
    this.#fieldPaths = names.map(parseIndexableField);
    this.#fieldIndexes.clear();
    for (const name of names) this.#fieldIndexes.set(name, new KeyIndex());
  }

  #index(record: CachedRecord): void {
    for (const { def, index } of this.#named.values()) forEachKey(def, record, (k) => index.add(k, record.id));
    this.#indexFields(record, true);
  }

  #unindex(record: CachedRecord): void {
    for (const { def, index } of this.#named.values()) forEachKey(def, record, (k) => index.delete(k, record.id));
    this.#indexFields(record, false);
  }

  #indexFields(record: CachedRecord, add: boolean): void {
    if (this.#fieldPaths.length === 0) return;
    const schema = schemaForTypeUrl(record.typeUrl);
    if (schema === undefined) return;
    const keys = extractIndexableFields(schema, recordBytes(record), this.#fieldPaths);
    if (keys === undefined) return;
    for (let i = 0; i < keys.length; i++) {
      const index = this.#fieldIndexes.get((this.#fieldPaths[i] as IndexableFieldPath).name) as KeyIndex;
      if (add) index.add(keys[i] as string, record.id);
      else index.delete(keys[i] as string, record.id);
    }
  }
}
