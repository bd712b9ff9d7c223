/**
 * Re-indexing a live table (indexable_fields changed, or addIndex on a held table) runs in
 * slices: bounded work per event-loop turn, changes keep applying meanwhile (to the table and to
 * the index being built), reads never see a half-built index, and the swap gives exactly what a
 * model of the records says. `indexBuildSliceMs: 0` makes each slice 256 records, so the number
 * of turns does not depend on the machine's speed.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { Replica } from "../../src/replica/replica.js";
import { change, options, sessionRecord, snapshot, SV, tombstone } from "./replica-fixtures.js";

const N = 3000;
const USERS = 100;
const SLICE_RECORDS = 256;

/** The records as a model: id -> user id, and the ids of one user. */
class Model {
  readonly users = new Map<string, string>();
  idsOf(userId: string): string[] {
    return [...this.users].filter(([, u]) => u === userId).map(([id]) => id).sort();
  }
}

/** A live table of N sessions (user of s<i> is u<i % USERS>) and its model. */
function liveTable(replicaOptions: ConstructorParameters<typeof Replica>[0] = {}) {
  const replica = new Replica({ indexBuildSliceMs: 0, ...replicaOptions });
  const model = new Model();
  const records = Array.from({ length: N }, (_, i) => {
    model.users.set(`s${i}`, `u${i % USERS}`);
    return sessionRecord(`s${i}`, BigInt(i + 1), `u${i % USERS}`, { idpId: `idp${i % 3}` });
  });
  replica.apply(snapshot(SESSION_TYPE, records, BigInt(N)));
  let version = BigInt(N);
  /** One change event: a new session, a session moved to another user, a delete; spread over the table. */
  const changeSome = (turn: number): void => {
    const added = `new${turn}`;
    const moved = `s${(turn * 997) % N}`;
    const removed = `s${(turn * 1_613 + 5) % N}`;
    const events = [sessionRecord(added, ++version, "u7"), sessionRecord(moved, ++version, `u${(turn + 8) % USERS}`)];
    model.users.set(added, "u7");
    model.users.set(moved, `u${(turn + 8) % USERS}`);
    if (removed !== moved && model.users.has(removed)) {
      events.push(tombstone(SESSION_TYPE, removed, ++version));
      model.users.delete(removed);
    }
    replica.apply(change(events));
  };
  return { replica, model, changeSome };
}

const byUserField = (replica: Replica, userId: string): string[] =>
  replica.query(SESSION_TYPE, { filter: { user_id: userId }, limit: N * 2 }).records.map((r) => r.id).sort();

describe("re-indexing a live table when indexable_fields change", () => {
  it("runs in slices while changes apply; reads keep the old index until one swap to the complete new one", async () => {
    const { replica, model, changeSome } = liveTable();
    expect(replica.options(SESSION_TYPE)).toBeUndefined();

    replica.apply({ kind: "options", type: SESSION_TYPE, options: options(["user_id"]) });
    // Same turn: the old options still answer (user_id not indexed: nothing found), not a partial index.
    expect(byUserField(replica, "u7")).toEqual([]);
    expect(replica.options(SESSION_TYPE)).toBeUndefined();
    expect(replica.isBuildingIndexes(SESSION_TYPE)).toBe(true);

    const answers: number[] = [];
    let turns = 0;
    while (replica.isBuildingIndexes(SESSION_TYPE)) {
      changeSome(turns++);
      answers.push(byUserField(replica, "u7").length);
      await nextTurn();
    }
    expect(turns).toBeGreaterThanOrEqual(Math.floor(N / SLICE_RECORDS) - 1);
    // Every answer during the build came from the old options: never a half-built index.
    expect(answers.every((n) => n === 0)).toBe(true);

    expect(replica.options(SESSION_TYPE)?.indexableFields).toEqual(["user_id"]);
    for (let u = 0; u < USERS; u++) expect(byUserField(replica, `u${u}`), `u${u}`).toEqual(model.idsOf(`u${u}`));
    // And it stays in step afterwards.
    changeSome(turns + 1);
    expect(byUserField(replica, "u7")).toEqual(model.idsOf("u7"));
  });

  it("a newer change of indexable_fields supersedes a build in progress; going back to the held fields drops it at once", async () => {
    const { replica, model } = liveTable();
    replica.apply({ kind: "options", type: SESSION_TYPE, options: options(["user_id"]) });
    await nextTurn();
    replica.apply({ kind: "options", type: SESSION_TYPE, options: options(["idp_id"]) });
    while (replica.isBuildingIndexes()) await nextTurn();
    expect(replica.options(SESSION_TYPE)?.indexableFields).toEqual(["idp_id"]);
    expect(byUserField(replica, "u7")).toEqual([]);
    const idp1 = replica.query(SESSION_TYPE, { filter: { idp_id: "idp1" }, limit: 0 }).totalCount;
    expect(idp1).toBe(BigInt([...model.users.keys()].filter((id) => Number(id.slice(1)) % 3 === 1).length));

    replica.apply({ kind: "options", type: SESSION_TYPE, options: options(["user_id"]) });
    expect(replica.isBuildingIndexes()).toBe(true);
    const sameFieldsAgain = options(["idp_id"]);
    sameFieldsAgain.capacity = 50n;
    replica.apply({ kind: "options", type: SESSION_TYPE, options: sameFieldsAgain });
    expect(replica.isBuildingIndexes()).toBe(false);
    expect(replica.options(SESSION_TYPE)?.capacity).toBe(50n);
    expect(replica.query(SESSION_TYPE, { filter: { idp_id: "idp1" }, limit: 0 }).totalCount).toBe(idp1);
  });

  it("a table small enough for one slice swaps at once", () => {
    const replica = new Replica({ indexBuildSliceMs: 0 });
    replica.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1"), sessionRecord("s2", 2n, "u2")], 2n));
    replica.apply({ kind: "options", type: SESSION_TYPE, options: options(["user_id"]) });
    expect(replica.isBuildingIndexes()).toBe(false);
    expect(byUserField(replica, "u1")).toEqual(["s1"]);
  });
});

describe("addIndex on a live table", () => {
  it("does at most one slice of work per turn; byIndex says Unavailable until the complete index is swapped in", async () => {
    const errors: unknown[] = [];
    const { replica, model, changeSome } = liveTable({ onListenerError: (e) => errors.push(e) });
    let calls = 0;
    const callsPerTurn: number[] = [];
    replica.addIndex(SESSION_TYPE, "user", (record) => {
      calls++;
      return (record.message as { userId?: string } | undefined)?.userId;
    });
    callsPerTurn.push(calls);
    expect(() => replica.byIndex(SESSION_TYPE, "user", "u7")).toThrow(expect.objectContaining({ code: Code.Unavailable }));

    let turns = 0;
    while (replica.isBuildingIndexes(SESSION_TYPE)) {
      const before = calls;
      await nextTurn();
      callsPerTurn.push(calls - before);
      if (!replica.isBuildingIndexes(SESSION_TYPE)) break;
      let unavailable: unknown;
      try {
        replica.byIndex(SESSION_TYPE, "user", "u7");
      } catch (error) {
        unavailable = error;
      }
      expect(unavailable).toBeInstanceOf(ConnectError);
      changeSome(turns++);
    }
    // The first slice ran inside addIndex; no turn indexed more than one slice of held records.
    expect(Math.max(...callsPerTurn)).toBeLessThanOrEqual(SLICE_RECORDS);
    expect(turns).toBeGreaterThanOrEqual(Math.floor(N / SLICE_RECORDS) - 2);
    for (let u = 0; u < USERS; u++) expect([...replica.byIndex(SESSION_TYPE, "user", `u${u}`)].sort(), `u${u}`).toEqual(model.idsOf(`u${u}`));
    expect(errors).toEqual([]);
  });

  it("an index function that throws leaves that record out and reports to onListenerError; nothing throws from the timer", async () => {
    const errors: unknown[] = [];
    const { replica, model } = liveTable({ onListenerError: (e) => errors.push(e) });
    replica.addIndex(SESSION_TYPE, "user", (record) => {
      if (record.id.endsWith("7")) throw new Error(`cannot index ${record.id}`);
      return (record.message as { userId?: string } | undefined)?.userId;
    });
    while (replica.isBuildingIndexes()) await nextTurn();
    expect(errors.length).toBe([...model.users.keys()].filter((id) => id.endsWith("7")).length);
    expect(String(errors[0])).toMatch(/cannot index s\d*7/);
    expect([...replica.byIndex(SESSION_TYPE, "user", "u1")].sort()).toEqual(model.idsOf("u1").filter((id) => !id.endsWith("7")));
  });

  it("a snapshot that replaces the table meanwhile drops the build; the new table has the index complete", async () => {
    const { replica } = liveTable();
    replica.addIndex(SESSION_TYPE, "user", (record) => (record.message as { userId?: string } | undefined)?.userId);
    expect(replica.isBuildingIndexes()).toBe(true);
    replica.apply(snapshot(SESSION_TYPE, [sessionRecord("a", 1n, "u1"), sessionRecord("b", 2n, "u1")], 2n, SV + 1n, new Map([[SESSION_TYPE, options(["user_id"])]])));
    expect(replica.isBuildingIndexes()).toBe(false);
    expect([...replica.byIndex(SESSION_TYPE, "user", "u1")].sort()).toEqual(["a", "b"]);
    expect(byUserField(replica, "u1")).toEqual(["a", "b"]);
    await nextTurn();
    expect([...replica.byIndex(SESSION_TYPE, "user", "u1")].sort()).toEqual(["a", "b"]);
  });
});

describe("closing the replica", () => {
  it("stops index builds: no slice runs afterwards and no immediate is left scheduled; reads keep answering", async () => {
    const { replica } = liveTable();
    await nextTurn();
    const immediates = () => process.getActiveResourcesInfo().filter((r) => r === "Immediate").length;
    const before = immediates();
    let calls = 0;
    replica.addIndex(SESSION_TYPE, "user", (record) => {
      calls++;
      return (record.message as { userId?: string } | undefined)?.userId;
    });
    await nextTurn();
    expect(replica.isBuildingIndexes()).toBe(true);
    replica.close();
    expect(immediates()).toBeLessThanOrEqual(before);
    const stopped = calls;
    for (let i = 0; i < 5; i++) await nextTurn();
    expect(calls).toBe(stopped);
    expect(stopped).toBeLessThan(N);
    expect(() => replica.byIndex(SESSION_TYPE, "user", "u1")).toThrow(expect.objectContaining({ code: Code.Unavailable }));
    expect(replica.getSession("s1")?.userId).toBe("u1");
    expect([...replica.byIndex(SESSION_TYPE, "user_id", "u1")]).toContain("s1");
  });
});
