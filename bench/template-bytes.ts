/**
 * Realistic records in bulk without encoding each one: encode a template once, find where its
 * id digits are, and patch fresh digits into a copy per record.
 */

/** The offset of `text` (UTF-8) in `bytes`, or -1. */
export function findBytes(bytes: Uint8Array, text: string): number {
  const needle = new TextEncoder().encode(text);
  outer: for (let i = 0; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Writes `n` as `width` ASCII digits (zero-padded) at `at`. */
export function patchDigits(buf: Uint8Array, at: number, width: number, n: number): void {
  for (let k = width - 1; k >= 0; k--) {
    buf[at + k] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
}
