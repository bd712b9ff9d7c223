/**
 * The indexable-fields index as Pomerium's file backend keeps it: explicit entries
 * (type, field, value, id). It is maintained the way Pomerium maintains it, including its
 * quirks: capacity and TTL deletions leave entries behind, and lookups skip (and drop) entries
 * whose record is gone.
 */
import { compareUtf8 } from "../../query/filter-expression.js";

export class FieldIndex {
  /** type -> field -> value -> ids */
  private readonly entries = new Map<string, Map<string, Map<string, Set<string>>>>();

  add(type: string, values: ReadonlyMap<string, string>, id: string): void {
    let byField = this.entries.get(type);
    if (byField === undefined) this.entries.set(type, (byField = new Map()));
    for (const [field, value] of values) {
      let byValue = byField.get(field);
      if (byValue === undefined) byField.set(field, (byValue = new Map()));
      let ids = byValue.get(value);
      if (ids === undefined) byValue.set(value, (ids = new Set()));
      ids.add(id);
    }
  }

  remove(type: string, values: ReadonlyMap<string, string>, id: string): void {
    const byField = this.entries.get(type);
    if (byField === undefined) return;
    for (const [field, value] of values) this.removeEntry(type, field, value, id);
  }

  removeEntry(type: string, field: string, value: string, id: string): void {
    const byValue = this.entries.get(type)?.get(field);
    const ids = byValue?.get(value);
    if (byValue === undefined || ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) byValue.delete(value);
  }

  /** Drops every entry of one field of a type (a field removed from indexable_fields). */
  removeField(type: string, field: string): void {
    this.entries.get(type)?.delete(field);
  }

  /** Ids under (type, field, value), in byte order as Pomerium's key order gives them. */
  lookup(type: string, field: string, value: string): string[] {
    const ids = this.entries.get(type)?.get(field)?.get(value);
    return ids === undefined ? [] : [...ids].sort(compareUtf8);
  }

  clear(): void {
    this.entries.clear();
  }
}
