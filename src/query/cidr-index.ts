/**
 * `$index` CIDR lookups on google.protobuf.Struct data (spec 6): records whose data carries
 * `{"$index": {"cidr": "<prefix>"}}` are found by an IP or CIDR filter value. Pomerium keeps
 * them in a longest-prefix-match table, so a lookup returns only the records under the MOST
 * SPECIFIC stored prefix containing the value (across all types, then filtered by type), in
 * insertion order.
 */
import { isMessage, type Message } from "@bufbuild/protobuf";
import { AnySchema, StructSchema, ValueSchema, type Any, type Struct } from "@bufbuild/protobuf/wkt";
import { tryDecodeAnyData } from "./data-registry.js";
import { maskPrefix, parseIpAddress, parseIpPrefix, prefixContainsPrefix, prefixKey, type IpPrefix } from "./ip-prefix.js";

const CIDR_CARRIERS = new Set(["google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.Any"]);

/** The `$index.cidr` prefix of record data, or undefined (Pomerium's GetRecordIndexCIDR). */
export function recordIndexCidr(data: Any | undefined): IpPrefix | undefined {
  // Only Struct, Value (or an Any wrapping them) can carry one: skip decoding everything else.
  if (data === undefined || !CIDR_CARRIERS.has(data.typeUrl.slice(data.typeUrl.lastIndexOf("/") + 1))) return undefined;
  let decoded: Message | undefined = tryDecodeAnyData(data)?.message;
  // Data may be an Any inside an Any; Pomerium unwraps every level.
  while (decoded !== undefined && isMessage(decoded, AnySchema)) decoded = tryDecodeAnyData(decoded)?.message;
  let struct: Struct | undefined;
  if (decoded !== undefined && isMessage(decoded, ValueSchema)) {
    struct = decoded.kind.case === "structValue" ? decoded.kind.value : undefined;
  } else if (decoded !== undefined && isMessage(decoded, StructSchema)) {
    struct = decoded;
  }
  const index = struct?.fields["$index"];
  if (index?.kind.case !== "structValue") return undefined;
  const cidr = index.kind.value.fields["cidr"];
  if (cidr?.kind.case !== "stringValue" || cidr.kind.value === "") return undefined;
  return parseIpPrefix(cidr.kind.value);
}

/** A record's place in the table. */
export interface CidrEntry {
  readonly type: string;
  readonly id: string;
}

/** Longest-prefix-match table from masked prefixes to the records indexed under them. */
export class CidrIndex {
  private readonly table = new Map<string, { prefix: IpPrefix; entries: CidrEntry[] }>();

  add(prefix: IpPrefix, entry: CidrEntry): void {
    const masked = maskPrefix(prefix);
    const key = prefixKey(masked);
    const slot = this.table.get(key) ?? { prefix: masked, entries: [] };
    // Re-adding moves the entry to the end, as Pomerium's delete-then-append does.
    slot.entries = slot.entries.filter((e) => e.type !== entry.type || e.id !== entry.id);
    slot.entries.push(entry);
    this.table.set(key, slot);
  }

  delete(prefix: IpPrefix, entry: CidrEntry): void {
    const key = prefixKey(maskPrefix(prefix));
    const slot = this.table.get(key);
    if (slot === undefined) return;
    slot.entries = slot.entries.filter((e) => e.type !== entry.type || e.id !== entry.id);
    if (slot.entries.length === 0) this.table.delete(key);
  }

  clear(): void {
    this.table.clear();
  }

  /**
   * Looks up a `$index` filter value: an IP or a CIDR; anything else finds nothing.
   * @param type the query type, or "" for every type
   */
  lookup(type: string, value: string): CidrEntry[] {
    const query = parseIpPrefix(value) ?? addressAsPrefix(parseIpAddress(value));
    if (query === undefined) return [];
    let best: { prefix: IpPrefix; entries: CidrEntry[] } | undefined;
    for (const slot of this.table.values()) {
      if (!prefixContainsPrefix(slot.prefix, query)) continue;
      if (best === undefined || slot.prefix.bits > best.prefix.bits) best = slot;
    }
    if (best === undefined) return [];
    return best.entries.filter((e) => type === "" || e.type === type);
  }
}

function addressAsPrefix(bytes: Uint8Array | undefined): IpPrefix | undefined {
  return bytes === undefined ? undefined : { bytes, bits: bytes.length * 8 };
}
