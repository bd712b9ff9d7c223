/**
 * IP addresses and CIDR prefixes parsed with the rules of Go's net/netip (ParseAddr,
 * ParsePrefix), which decide what a `$index` filter value and a `$index.cidr` field accept.
 */

export interface IpPrefix {
  /** 4 bytes for IPv4, 16 for IPv6 (IPv4-mapped IPv6 stays IPv6, as in netip). */
  readonly bytes: Uint8Array;
  readonly bits: number;
}

/** Parses an IP address (IPv6 zones accepted and ignored, as netip keeps them off the bits). */
export function parseIpAddress(text: string): Uint8Array | undefined {
  const zone = text.indexOf("%");
  if (zone >= 0) {
    if (zone === text.length - 1 || !text.includes(":")) return undefined;
    return parseIpv6(text.slice(0, zone));
  }
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/** Parses `addr/bits`; the address bits beyond the prefix length are kept (netip does too). */
export function parseIpPrefix(text: string): IpPrefix | undefined {
  const slash = text.lastIndexOf("/");
  if (slash < 0) return undefined;
  const addrText = text.slice(0, slash);
  if (addrText.includes("%")) return undefined; // netip: zones cannot be present in a prefix
  const bytes = addrText.includes(":") ? parseIpv6(addrText) : parseIpv4(addrText);
  if (bytes === undefined) return undefined;
  const bitsText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > bytes.length * 8) return undefined;
  return { bytes, bits };
}

/** The prefix with host bits zeroed. */
export function maskPrefix(prefix: IpPrefix): IpPrefix {
  return { bytes: maskBytes(prefix.bytes, prefix.bits), bits: prefix.bits };
}

/** True when `outer` contains every address of `inner` (same family, outer no longer than inner). */
export function prefixContainsPrefix(outer: IpPrefix, inner: IpPrefix): boolean {
  if (outer.bytes.length !== inner.bytes.length || outer.bits > inner.bits) return false;
  return equalBytes(maskBytes(outer.bytes, outer.bits), maskBytes(inner.bytes, outer.bits));
}

/** Canonical text of a masked prefix, usable as a map key. */
export function prefixKey(prefix: IpPrefix): string {
  return `${Buffer.from(maskBytes(prefix.bytes, prefix.bits)).toString("hex")}/${prefix.bits}`;
}

function maskBytes(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = (bytes[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] as string;
    // netip rejects empty octets, leading zeros and anything but decimal digits.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : (halves[0] as string).split(":");
  const tail = halves.length === 2 ? (halves[1] === "" ? [] : (halves[1] as string).split(":")) : [];
  const groups: number[] = [];
  const pushGroups = (parts: string[], allowV4Last: boolean): boolean => {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      if (allowV4Last && i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (v4 === undefined) return false;
        groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return false;
      groups.push(parseInt(part, 16));
    }
    return true;
  };
  if (halves.length === 1) {
    if (!pushGroups(head, true) || groups.length !== 8) return undefined;
  } else {
    if (!pushGroups(head, false)) return undefined;
    const headCount = groups.length;
    if (!pushGroups(tail, true)) return undefined;
    const tailGroups = groups.splice(headCount);
    const zeros = 8 - headCount - tailGroups.length;
    // netip: "::" must stand for at least one group of zeros.
    if (zeros < 1) return undefined;
    groups.push(...new Array<number>(zeros).fill(0), ...tailGroups);
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}
