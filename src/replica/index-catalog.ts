/**
 * The index definitions a type's tables are built with: the built-in ones (index-definitions.ts)
 * followed by those the host added with `Replica.addIndex`, in the order added.
 *
 * Invariants:
 * - an index name is unique per type: adding one twice throws ConnectError AlreadyExists;
 * - a host function that throws indexes that record under no key and is reported: it must never
 *   stop a change or a snapshot from applying (the replica would fall behind its position).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { builtInIndexes, type IndexDefinition, type IndexFunction } from "./index-definitions.js";

export class IndexCatalog {
  readonly #hostIndexes = new Map<string, IndexDefinition[]>();
  /** Where a throwing host index function's error goes. */
  readonly #onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** Every index a table of `type` has: built-in first, then the host's (a fresh array). */
  definitions(type: string): IndexDefinition[] {
    return [...builtInIndexes(type), ...(this.#hostIndexes.get(type) ?? [])];
  }

  /**
   * Adds a host index for `type` and returns its definition (to build on a held table).
   * @throws ConnectError AlreadyExists when the type already has an index of that name
   */
  add(type: string, name: string, keys: IndexFunction): IndexDefinition {
    const existing = this.definitions(type);
    if (existing.some((d) => d.name === name)) {
      throw new ConnectError(`index "${name}" already exists for type ${type}`, Code.AlreadyExists);
    }
    // A host function that throws indexes that record under no key and is reported: it must
    // never stop a change or a snapshot from applying (the replica would fall behind its position).
    const def: IndexDefinition = {
      name,
      keys: (record) => {
        try {
          return keys(record);
        } catch (error) {
          this.#onError(error);
          return undefined;
        }
      },
    };
    const host = this.#hostIndexes.get(type) ?? [];
    host.push(def);
    this.#hostIndexes.set(type, host);
    return def;
  }
}
