import { describe, expect, it } from "vitest";
import { KeyIndex } from "../../src/replica/key-index.js";

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
