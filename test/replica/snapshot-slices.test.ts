import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import type { ChangeBatch } from "../../src/replica/change-batch.js";
import { Replica } from "../../src/replica/replica.js";
import { change, ids, options, sessionRecord, snapshot, SV, userRecord } from "./replica-fixtures.js";

const sessions = (n: number, prefix: string, version = 1n) => Array.from({ length: n }, (_, i) => sessionRecord(`${prefix}${i}`, version + BigInt(i), `u${i % 7}`));

function abortCode(fn: () => unknown): Code | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof ConnectError ? error.code : undefined;
  }
  return undefined;
}

describe("snapshots completed in slices (finishInSteps)", () => {
  it("keep reads on the held table between slices and give the same batches as finish", () => {
    const held = sessions(3000, "old-");
    const incoming = [...sessions(2000, "old-", 10_000n), ...sessions(1500, "new-")];
    const whole = new Replica();
    whole.apply(snapshot(SESSION_TYPE, held, 3000n));
    const wholeBatches = whole.apply(snapshot(SESSION_TYPE, incoming, 20_000n, SV + 1n, new Map([[SESSION_TYPE, options(["user_id"])]])));

    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, held, 3000n));
    const seen: ChangeBatch[] = [];
    r.subscribe((b) => seen.push(b));
    const b = r.beginSnapshot(SESSION_TYPE);
    for (let i = 0; i < incoming.length; i += 500) b.add(incoming.slice(i, i + 500));
    const completion = b.finishInSteps({ serverVersion: SV + 1n, recordVersion: 20_000n }, new Map([[SESSION_TYPE, options(["user_id"])]]));
    let steps = 0;
    while (!completion.prepare(0)) {
      steps++;
      // Between slices the held table serves, unchanged, and nothing was emitted.
      expect(r.get(SESSION_TYPE, "old-2500")?.version).toBe(2501n);
      expect(r.get(SESSION_TYPE, "new-1")).toBeUndefined();
      expect(r.versions(SESSION_TYPE)?.serverVersion).toBe(SV);
      expect(seen).toEqual([]);
    }
    expect(steps).toBeGreaterThan(3);
    expect(seen).toEqual([]); // prepared, not swapped
    expect(r.get(SESSION_TYPE, "new-1")).toBeUndefined();
    const swapped = completion.swap();
    expect(completion.swap()).toBe(swapped); // once
    const summary = (bs: readonly ChangeBatch[]) => bs.map((x) => [x.kind, x.type, ids(x.upserts), ids(x.deletes), x.recordVersion]);
    expect(summary(seen)).toEqual(summary(wholeBatches));
    expect(seen[0]?.deletes).toHaveLength(1000);
    expect(r.size(SESSION_TYPE)).toBe(3500);
    expect([...r.byIndex(SESSION_TYPE, "user_id", "u3")].sort()).toEqual([...whole.byIndex(SESSION_TYPE, "user_id", "u3")].sort());
    expect(r.byIndex(SESSION_TYPE, "user_id", "u3").size).toBeGreaterThan(0);
  });

  it("a snapshot superseded between slices swaps nothing: its next step throws Aborted", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, sessions(3000, "old-"), 3000n));
    const b = r.beginSnapshot(SESSION_TYPE);
    b.add(sessions(3000, "new-"));
    const completion = b.finishInSteps({ serverVersion: SV + 1n, recordVersion: 3000n });
    expect(completion.prepare(0)).toBe(false);
    r.beginSnapshot(SESSION_TYPE); // a newer one (e.g. the stream's retry)
    expect(abortCode(() => completion.prepare(100))).toBe(Code.Aborted);
    expect(abortCode(() => completion.swap())).toBe(Code.Aborted);
    expect(r.get(SESSION_TYPE, "old-1")?.id).toBe("old-1");
    expect(r.get(SESSION_TYPE, "new-1")).toBeUndefined();
    expect(r.versions(SESSION_TYPE)?.serverVersion).toBe(SV);
  });

  it("a discarded snapshot changes nothing and refuses further use", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("a", 1n, "u")], 1n));
    const seen: ChangeBatch[] = [];
    r.subscribe((b) => seen.push(b));
    const b = r.beginSnapshot(SESSION_TYPE);
    b.add([sessionRecord("half", 2n, "u")]);
    b.discard();
    expect(abortCode(() => b.add([sessionRecord("late", 3n, "u")]))).toBe(Code.Aborted);
    expect(abortCode(() => b.finish({ serverVersion: SV, recordVersion: 3n }))).toBe(Code.Aborted);
    expect(r.get(SESSION_TYPE, "half")).toBeUndefined();
    expect(r.get(SESSION_TYPE, "a")?.id).toBe("a");
    expect(seen).toEqual([]);
  });

  it("only an overlapping snapshot supersedes: users do not abort sessions, every-type aborts both", () => {
    const r = new Replica();
    const s = r.beginSnapshot(SESSION_TYPE);
    s.add([sessionRecord("s1", 1n, "u1")]);
    const u = r.beginSnapshot(USER_TYPE);
    u.add([userRecord("u1", 2n, "a@b")]);
    s.finish({ serverVersion: SV, recordVersion: 1n });
    u.finish({ serverVersion: SV, recordVersion: 2n });
    expect(r.get(SESSION_TYPE, "s1")?.id).toBe("s1");
    expect(r.get(USER_TYPE, "u1")?.id).toBe("u1");

    const s2 = r.beginSnapshot(SESSION_TYPE);
    const u2 = r.beginSnapshot(USER_TYPE);
    r.beginSnapshot("");
    expect(abortCode(() => s2.add([]))).toBe(Code.Aborted);
    expect(abortCode(() => u2.add([]))).toBe(Code.Aborted);
  });

  it("a change to a covered table while the snapshot completes is not lost (the diff is recomputed at the swap)", () => {
    const r = new Replica();
    r.apply(snapshot("", [sessionRecord("x", 1n, "u"), sessionRecord("y", 2n, "u")], 2n));
    const b = r.beginSnapshot("");
    b.add([sessionRecord("x", 1n, "u"), sessionRecord("y", 2n, "u")]);
    const completion = b.finishInSteps({ serverVersion: SV, recordVersion: 2n });
    // An overlapping feed (not the cache's: its streams never overlap) changes x meanwhile.
    r.apply(change([sessionRecord("x", 5n, "u2")]));
    while (!completion.prepare(0));
    completion.swap();
    expect(r.get(SESSION_TYPE, "x")?.version).toBe(5n);
    expect(r.versions("")?.recordVersion).toBe(5n);
    expect([...r.byIndex(SESSION_TYPE, "user_id", "u2")]).toEqual(["x"]);
  });
});
