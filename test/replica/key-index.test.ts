import { describe, expect, it } from "vitest";
import { KeyIndex, MAX_ARRAY_IDS } from "../../src/replica/key-index.js";

describe("KeyIndex", () => {
  it("holds one id, then many, then drops the key when the last id goes", () => {
    const index = new KeyIndex();
    index.add("k", "a");
    expect([...index.get("k")]).toEqual(["a"]);
    expect(index.get("k").has("a")).toBe(true);
    expect(index.get("k").has("b")).toBe(false);
    index.add("k", "a"); // idempotent
    expect(index.get("k").size).toBe(1);
    index.add("k", "b");
    expect([...index.get("k")].sort()).toEqual(["a", "b"]);
    index.delete("k", "a");
    expect([...index.get("k")]).toEqual(["b"]);
    index.delete("k", "b");
    expect(index.get("k").size).toBe(0);
    expect(index.keyCount).toBe(0);
  });

  it("ignores deletes of ids or keys it does not hold", () => {
    const index = new KeyIndex();
    index.add("k", "a");
    index.delete("k", "zzz");
    index.delete("nope", "a");
    expect([...index.get("k")]).toEqual(["a"]);
  });

  it("returns the same stored view on every read (no allocation)", () => {
    const index = new KeyIndex();
    index.add("k", "a");
    expect(index.get("k")).toBe(index.get("k"));
    const seen: string[] = [];
    index.get("k").forEach((v) => seen.push(v));
    expect(seen).toEqual(["a"]);
    expect([...index.get("k").entries()]).toEqual([["a", "a"]]);
  });
});

describe("KeyIndex with many ids under a key", () => {
  const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `id-${from + i}`);

  it("keeps every id, in the order added, past the array form's limit and back down", () => {
    const index = new KeyIndex();
    const all = ids(MAX_ARRAY_IDS + 5);
    for (const id of all) index.add("k", id);
    for (const id of all) index.add("k", id); // idempotent in both forms
    const view = index.get("k");
    expect(view.size).toBe(all.length);
    expect([...view]).toEqual(all);
    expect(all.every((id) => view.has(id))).toBe(true);
    expect(view.has("id-x")).toBe(false);
    // Delete down to one, from both ends and the middle; the view a caller holds follows.
    const left = [...all];
    for (const at of [0, left.length - 1, Math.floor(left.length / 2)]) {
      index.delete("k", left[at]!);
      left.splice(at, 1);
      expect([...view]).toEqual(left);
      expect(view.size).toBe(left.length);
    }
    for (const id of left.slice(1)) index.delete("k", id);
    expect([...view]).toEqual([left[0]]);
    expect(index.get("k")).toBe(view);
    index.delete("k", left[0]!);
    expect(index.keyCount).toBe(0);
    expect(index.get("k").size).toBe(0);
  });

  it("keeps the array form exactly to its limit, deletes and re-adds included", () => {
    const index = new KeyIndex();
    for (const id of ids(MAX_ARRAY_IDS)) index.add("k", id);
    index.delete("k", "id-3");
    index.add("k", "id-3");
    index.add("k", "id-new");
    const expected = [...ids(MAX_ARRAY_IDS).filter((id) => id !== "id-3"), "id-3", "id-new"];
    expect([...index.get("k")]).toEqual(expected);
    expect([...index.get("k").keys()]).toEqual(expected);
    expect([...index.get("k").entries()]).toEqual(expected.map((id) => [id, id]));
    const seen: string[] = [];
    index.get("k").forEach((v, k, set) => {
      expect(k).toBe(v);
      expect(set).toBe(index.get("k"));
      seen.push(v);
    });
    expect(seen).toEqual(expected);
  });

  it("an iteration started before a change never skips an id nor sees one twice", () => {
    for (const n of [3, MAX_ARRAY_IDS]) {
      const index = new KeyIndex();
      const all = ids(n);
      for (const id of all) index.add("k", id);
      const seen: string[] = [];
      const it = index.get("k")[Symbol.iterator]();
      seen.push(it.next().value as string, it.next().value as string);
      // Delete ids already visited: the ids after them must all still come.
      index.delete("k", all[0]!);
      index.delete("k", all[1]!);
      for (let r = it.next(); r.done !== true; r = it.next()) seen.push(r.value);
      expect(seen).toEqual(all);
      expect(new Set(seen).size).toBe(seen.length);
    }
  });

  it("is read-only to callers in both forms", () => {
    const index = new KeyIndex();
    for (const id of ids(2)) index.add("small", id);
    for (const id of ids(MAX_ARRAY_IDS + 1)) index.add("large", id);
    for (const key of ["small", "large"]) {
      const view = index.get(key) as unknown as Set<string>;
      expect(view instanceof Set).toBe(false);
      expect(Object.isFrozen(view)).toBe(true);
      expect(() => view.add("intruder")).toThrow(TypeError);
      expect(view.has("intruder")).toBe(false);
    }
  });
});
