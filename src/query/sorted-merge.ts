/**
 * Finite sequences that may end in an error, and Pomerium's sorted merges of them
 * (pkg/iterutil SortedIntersectionWithError / SortedUnionWithError), ported step for step. They
 * assume sorted input, as Pomerium's do; `$index` CIDR lookups are not sorted, and on such input
 * these behave exactly as Pomerium's do (which is why this is a port, not a set operation).
 */

export interface Sequence<T> {
  readonly items: readonly T[];
  /** Yielded after the items, ending the sequence. */
  readonly error?: Error | undefined;
}

export type Compare<T> = (a: T, b: T) => number;

interface Step<T> {
  readonly ok: boolean;
  readonly item?: T;
  readonly error?: Error;
}

function puller<T>(seq: Sequence<T>): () => Step<T> {
  let i = 0;
  let errorSent = false;
  return () => {
    if (i < seq.items.length) return { ok: true, item: seq.items[i++] as T };
    if (seq.error !== undefined && !errorSent) {
      errorSent = true;
      return { ok: true, error: seq.error };
    }
    return { ok: false };
  };
}

export function sortedIntersection<T>(compare: Compare<T>, seqs: readonly Sequence<T>[]): Sequence<T> {
  if (seqs.length === 0) return { items: [] };
  if (seqs.length === 1) return seqs[0] as Sequence<T>;
  if (seqs.length > 2) {
    const half = Math.floor(seqs.length / 2);
    return sortedIntersection(compare, [sortedIntersection(compare, seqs.slice(0, half)), sortedIntersection(compare, seqs.slice(half))]);
  }
  const next1 = puller(seqs[0] as Sequence<T>);
  const next2 = puller(seqs[1] as Sequence<T>);
  const items: T[] = [];
  let s1 = next1();
  let s2 = next2();
  while (s1.ok && s2.ok) {
    if (s1.error !== undefined) return { items, error: s1.error };
    if (s2.error !== undefined) return { items, error: s2.error };
    const c = compare(s1.item as T, s2.item as T);
    if (c < 0) s1 = next1();
    else if (c > 0) s2 = next2();
    else {
      items.push(s1.item as T);
      s1 = next1();
      s2 = next2();
    }
  }
  return { items };
}

export function sortedUnion<T>(compare: Compare<T>, seqs: readonly Sequence<T>[]): Sequence<T> {
  if (seqs.length === 0) return { items: [] };
  if (seqs.length === 1) return seqs[0] as Sequence<T>;
  if (seqs.length > 2) {
    const half = Math.floor(seqs.length / 2);
    return sortedUnion(compare, [sortedUnion(compare, seqs.slice(0, half)), sortedUnion(compare, seqs.slice(half))]);
  }
  const next1 = puller(seqs[0] as Sequence<T>);
  const next2 = puller(seqs[1] as Sequence<T>);
  const items: T[] = [];
  let s1 = next1();
  let s2 = next2();
  while (s1.ok || s2.ok) {
    if (s1.ok && s1.error !== undefined) return { items, error: s1.error };
    if (s2.ok && s2.error !== undefined) return { items, error: s2.error };
    if (!s1.ok) {
      items.push(s2.item as T);
      s2 = next2();
    } else if (!s2.ok) {
      items.push(s1.item as T);
      s1 = next1();
    } else {
      const c = compare(s1.item as T, s2.item as T);
      if (c <= 0) {
        items.push(s1.item as T);
        s1 = next1();
        if (c === 0) s2 = next2();
      } else {
        items.push(s2.item as T);
        s2 = next2();
      }
    }
  }
  return { items };
}
