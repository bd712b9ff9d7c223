/**
 * The mirror's ready line and its status screen's title say where the cache started: resumed
 * from the snapshot file (and how old it was), or from the server.
 */
import { describe, expect, it } from "vitest";
import type { CacheState } from "../../src/index.js";
import { readyLine, startedFrom } from "../../src/cli/live-status.js";

const state = (streams: { startedFrom: "snapshot" | "server" | undefined; snapshotAgeMs: number | undefined }[]): CacheState =>
  ({ streams: streams.map((s, i) => ({ type: `t${i}`, ...s })) }) as unknown as CacheState;

describe("where the cache started, as the command line says it", () => {
  it("names the snapshot and its age (the oldest type's) when every type resumed from it", () => {
    const s = state([
      { startedFrom: "snapshot", snapshotAgeMs: 90_000 },
      { startedFrom: "snapshot", snapshotAgeMs: 30_000 },
    ]);
    expect(startedFrom(s)).toBe("resumed from snapshot (age 1.5 min)");
    expect(readyLine(s, 1.234)).toBe("cache ready: resumed from snapshot (age 1.5 min), caught up in 1.23 s");
  });

  it("says how many types resumed when only some did", () => {
    expect(startedFrom(state([{ startedFrom: "snapshot", snapshotAgeMs: 5_000 }, { startedFrom: "server", snapshotAgeMs: undefined }]))).toBe("resumed from snapshot (age 5.0 s) (1 of 2 types)");
  });

  it("says nothing of a snapshot when every type came from the server", () => {
    const s = state([{ startedFrom: "server", snapshotAgeMs: undefined }]);
    expect(startedFrom(s)).toBeUndefined();
    expect(readyLine(s, 2)).toBe("cache ready: first snapshots loaded in 2.00 s");
  });
});
