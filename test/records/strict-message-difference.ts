/**
 * A strict structural comparison of two decoded messages, stricter than toEqual: same own keys in
 * the same order (with the same property attributes), same prototypes, bigint vs number kept
 * apart, NaN and -0 by Object.is, byte arrays by class, contents and (when not empty) the memory
 * they view. Returns the path of the first difference, or undefined when there is none.
 */
export function strictMessageDifference(actual: unknown, expected: unknown, path = "$"): string | undefined {
  if (typeof actual !== typeof expected) return `${path}: ${typeof actual} vs ${typeof expected}`;
  if (typeof actual !== "object" || actual === null || expected === null) {
    return Object.is(actual, expected) ? undefined : `${path}: ${String(actual)} vs ${String(expected)}`;
  }
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(e)) return `${path}: different prototypes`;
  if (a instanceof Uint8Array) {
    const eb = e as unknown as Uint8Array;
    if (a.length !== eb.length) return `${path}: ${a.length} bytes vs ${eb.length}`;
    for (let i = 0; i < a.length; i++) if (a[i] !== eb[i]) return `${path}[${i}]: ${a[i]} vs ${eb[i]}`;
    if (a.length > 0 && (a.buffer !== eb.buffer || a.byteOffset !== eb.byteOffset)) return `${path}: views different memory`;
    return undefined;
  }
  if (Array.isArray(a) !== Array.isArray(e)) return `${path}: array vs not`;
  const ak = Reflect.ownKeys(a);
  const ek = Reflect.ownKeys(e);
  if (ak.length !== ek.length || ak.some((k, i) => k !== ek[i])) return `${path}: keys [${ak.map(String).join(",")}] vs [${ek.map(String).join(",")}]`;
  for (const k of ak) {
    const ad = Object.getOwnPropertyDescriptor(a, k) as PropertyDescriptor;
    const ed = Object.getOwnPropertyDescriptor(e, k) as PropertyDescriptor;
    if (ad.enumerable !== ed.enumerable || ad.writable !== ed.writable || ad.configurable !== ed.configurable || (ad.get === undefined) !== (ed.get === undefined)) {
      return `${path}.${String(k)}: property attributes differ`;
    }
    const d = strictMessageDifference(a[k as string], e[k as string], `${path}.${String(k)}`);
    if (d !== undefined) return d;
  }
  return undefined;
}
