/**
 * How a record front (record-front.ts) handles ids: the cheap hash it buckets them by, and the
 * flat copies it makes of the keys it keeps (key-copies.ts keeps those).
 */
/**
 * The hash of an id: its length and up to eight of its characters (the first two, two in the
 * middle, the last four), mixed. Ids differ at the end (counters), all over (UUIDs) or at the
 * start (emails); ids that differ only elsewhere share a bucket and take turns in it, never wrong.
 */
export function frontHash(id: string): number {
  const n = id.length;
  let h = Math.imul(n, 0x9e3779b1);
  if (n >= 4) {
    const m = n >>> 1;
    h = Math.imul(h ^ id.charCodeAt(0) ^ (id.charCodeAt(1) << 8) ^ (id.charCodeAt(m - 1) << 16) ^ (id.charCodeAt(m) << 24), 0x85ebca6b);
    h = Math.imul(h ^ id.charCodeAt(n - 4) ^ (id.charCodeAt(n - 3) << 8) ^ (id.charCodeAt(n - 2) << 16) ^ (id.charCodeAt(n - 1) << 24), 0xc2b2ae35);
  } else {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/** Longer ids keep the table's own string: a copy goes through the call stack's argument list. */
const MAX_COPIED_KEY = 1024;
/** The code units of the key being copied (see compactKey). */
const keyUnits: number[] = [];

/**
 * A new flat string equal to `id`, allocated now (record-front.ts says why: where a key lies). Every
 * UTF-16 code unit is copied as it is, lone surrogates included. `slice`, `concat` and template
 * literals return the same string or one that points into it (sliced and cons strings, whose
 * comparisons go through one more object), so the code units are copied one by one.
 */
export function compactKey(id: string): string {
  const n = id.length;
  if (n > MAX_COPIED_KEY) return id;
  // One scratch array for every copy: the only allocation left is the copy itself (copies are
  // made during first reads, where garbage adds to the collections that set their tail).
  const units = keyUnits;
  units.length = n;
  for (let i = 0; i < n; i++) units[i] = id.charCodeAt(i);
  return String.fromCharCode.apply(null, units);
}
