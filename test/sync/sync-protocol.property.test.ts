/**
 * The sync loops and the replica together, against a databroker simulated from the protocol
 * (simulated-databroker.ts), not from the loop's own rules.
 *
 * Two loops (sessions and users) share one replica and one connection, as the cache runs them.
 * fast-check picks what happens: puts and deletes, Clear, compaction, a connection failure under
 * one stream (or the whole connection), refused connections, a clean end of a Sync stream (a
 * proxy's idle timeout), the loops' periodic re-reads from an older position (which the protocol
 * allows), change batches of 1, 2 or many records, and waits on the model's and the loops' states
 * (never on the clock). What must hold, from the protocol:
 * 1. convergence: once writes stop and every stream is idle, the replica holds exactly the
 *    server's live records of each type (ids, versions, bytes), at the server's position;
 * 2. only the server forgets a position: a type runs SyncLatest again only after the server left
 *    it without one (a Clear's CANCELLED or ABORTED read on its Sync, or a SyncLatest that did not
 *    deliver its end); without Clear and compaction, each type runs exactly one SyncLatest, however
 *    many connection failures, resets and clean ends happened;
 * 3. never backwards: within one server version a record shown never moves to an older version,
 *    never comes back at or below a tombstone the replica was sent, and is always a state the
 *    server really had (checked at every replica batch and after every action).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/demo/demo-records.js";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { recordBytes } from "../../src/replica/cached-record.js";
import { Replica } from "../../src/replica/replica.js";
import { replicaTarget, type ReplicaTarget } from "../../src/sync/replica-target.js";
import { SyncLoop } from "../../src/sync/sync-loop.js";
import { SimulatedDatabroker, type WireCounts } from "./simulated-databroker.js";

const TYPES = [SESSION_TYPE, USER_TYPE] as const;
const IDS = ["a", "b", "c"] as const;
const FIRST_SERVER_VERSION = 0xfeed_beef_0000_0001n;
/** 100 scenarios of up to 30 actions take about a second; a failing property stops shrinking in time to be reported. */
const PROPERTY_RUNS = { numRuns: 100, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: true };
/** How long the loops may take to reach the server's position (backoffs here are <= 20 ms). */
const SETTLE_TIMEOUT_MS = 5000;

const writeArb = fc.record({ kind: fc.constantFrom("put" as const, "delete" as const), type: fc.constantFrom(...TYPES), id: fc.constantFrom(...IDS) });

const faultArbs = [
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("connectionFailure" as const), pick: fc.nat(), lose: fc.boolean(), whole: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("cleanEnd" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("refuseConnects" as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("drain" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("turn" as const), turns: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("settle" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("awaitRefresh" as const) }) },
];
const forgettingArbs = [
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const), catchSnapshots: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const) }) },
];

/** The actions; with `serverForgets`, also Clear and compaction. */
function actionArb(serverForgets: boolean) {
  return fc.oneof({ weight: 8, arbitrary: writeArb }, ...faultArbs, ...(serverForgets ? forgettingArbs : []));
}
type Action = ReturnType<typeof actionArb> extends fc.Arbitrary<infer T> ? T : never;
type Write = typeof writeArb extends fc.Arbitrary<infer T> ? T : never;

interface Scenario {
  readonly seed: number;
  /** The loops' largest change batch: 1 makes every change its own replica event. */
  readonly maxBatchSize: number;
  /** The periodic re-read of a live stream from an older position it held (undefined: off). */
  readonly refresh: { readonly intervalMs: number; readonly lateCommitGraceMs: number } | undefined;
  readonly initial: readonly Write[];
  readonly actions: readonly Action[];
}

function scenarioArb(serverForgets: boolean): fc.Arbitrary<Scenario> {
  return fc.record({
    seed: fc.integer(),
    maxBatchSize: fc.constantFrom(1, 2, 1024),
    refresh: fc.option(fc.record({ intervalMs: fc.constantFrom(5, 20), lateCommitGraceMs: fc.constantFrom(0, 10) }), { nil: undefined }),
    initial: fc.array(writeArb, { maxLength: 6 }),
    actions: fc.array(actionArb(serverForgets), { minLength: 1, maxLength: 30 }),
  });
}

/** Waits that are re-checked whenever the model, a stream or a loop changes; never on a clock tick. */
class StateWaits {
  private readonly checks = new Set<() => void>();

  poke(): void {
    for (const check of [...this.checks]) check();
  }

  until(predicate: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.checks.delete(check);
      };
      const check = () => {
        if (!predicate()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      this.checks.add(check);
      check();
    });
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One scenario: the simulated databroker, one replica, one loop per type. */
class Run {
  readonly waits = new StateWaits();
  readonly broker = new SimulatedDatabroker(TYPES, FIRST_SERVER_VERSION, () => this.waits.poke());
  readonly replica = new Replica();
  readonly loops = new Map<string, SyncLoop>();
  /** Highest version shown per `${serverVersion}|${type}|${id}`. */
  private readonly shown = new Map<string, bigint>();
  /** Highest tombstone the replica accepted per `${serverVersion}|${type}|${id}`. */
  private readonly sentTombstones = new Map<string, bigint>();
  readonly violations: string[] = [];
  /** Re-reads the loops started (each tells the replica its floor first). */
  refreshes = 0;
  private readonly refreshing: boolean;
  private readonly unsubscribe: () => void;

  constructor({ seed, maxBatchSize, refresh }: Scenario) {
    // A listener must not throw (the replica would swallow it): violations are collected.
    this.unsubscribe = this.replica.subscribe(() => this.observe("at a replica batch"));
    // The loops' jitter, so a seed replays the same delays (the timers themselves are real).
    const random = seededRandom(seed);
    this.refreshing = refresh !== undefined;
    for (const type of TYPES) {
      const loop = new SyncLoop({
        type,
        source: this.broker,
        replica: this.tracking(replicaTarget(this.replica)),
        retry: { initialDelayMs: 1, maxDelayMs: 20, maxReconnectDelayMs: 10, fastLoopMaxRetries: 1000 },
        random,
        maxBatchSize,
        // A re-read is a Sync from an older position the stream held, which the protocol allows.
        refresh: refresh ?? { intervalMs: 3_600_000, lateCommitGraceMs: 0 },
        // Not modelled: a silent stream is normal here.
        idleTimeoutMs: 3_600_000,
        onInternalError: (error) => this.violations.push(`internal error in the ${type} loop: ${String(error)}`),
      });
      loop.status$.subscribe(() => this.waits.poke());
      this.loops.set(type, loop);
    }
  }

  /** The replica target, noting the tombstones the replica accepted. */
  private tracking(target: ReplicaTarget): ReplicaTarget {
    return {
      begin: (type) => target.begin(type),
      apply: (event) => {
        target.apply(event);
        if (event.kind === "floor") this.refreshes++;
        if (event.kind !== "change") return;
        for (const r of event.records) {
          if (r.deletedAt === undefined) continue;
          const key = `${event.serverVersion}|${r.type}|${r.id}`;
          const held = this.sentTombstones.get(key);
          if (held === undefined || r.version > held) this.sentTombstones.set(key, r.version);
        }
      },
    };
  }

  start(): void {
    for (const loop of this.loops.values()) loop.start();
  }

  close(): void {
    for (const loop of this.loops.values()) loop.close();
    this.unsubscribe();
  }

  write(w: Write): void {
    if (w.kind === "put") this.broker.put(w.type, w.id);
    else this.broker.delete(w.type, w.id);
  }

  async perform(action: Action): Promise<void> {
    switch (action.kind) {
      case "put":
      case "delete":
        this.write(action);
        return;
      case "clear":
        this.broker.clear(action.catchSnapshots);
        return;
      case "compact":
        this.broker.compact();
        return;
      case "connectionFailure":
        this.broker.connectionFailure(action.pick, action.lose, action.whole);
        return;
      case "cleanEnd":
        this.broker.cleanEnd(action.pick);
        return;
      case "refuseConnects":
        this.broker.refuseConnects(action.count);
        return;
      case "drain":
        await this.waits.until(() => this.broker.openOnWire().every((s) => s.drained), () => `every open stream drained\n${this.describe()}`, SETTLE_TIMEOUT_MS);
        return;
      case "turn":
        for (let i = 0; i < action.turns; i++) await turn();
        return;
      case "settle":
        await this.settle();
        return;
      case "awaitRefresh": {
        if (!this.refreshing) return;
        const before = this.refreshes;
        await this.waits.until(() => this.refreshes > before, () => `a re-read\n${this.describe()}`, SETTLE_TIMEOUT_MS);
        return;
      }
    }
  }

  /**
   * Every loop is live at the server's version on the only stream of its type, which has
   * delivered all it was sent, and the loop and the replica hold the position the protocol
   * brings that type to.
   */
  private settled(): boolean {
    const sv = this.broker.serverVersion;
    return TYPES.every((type) => {
      const status = this.loops.get(type)!.status;
      if (status.state !== "live" || status.serverVersion !== sv) return false;
      const open = this.broker.openOnWire().filter((s) => s.type === type);
      if (open.length !== 1 || open[0]!.kind !== "sync" || !open[0]!.drained) return false;
      const position = this.broker.position(type);
      const held = this.replica.versions(type);
      return position !== undefined && status.recordVersion === position && held?.serverVersion === sv && held.recordVersion === position;
    });
  }

  settle(): Promise<void> {
    return this.waits.until(() => this.settled(), () => `the loops to settle\n${this.describe()}`, SETTLE_TIMEOUT_MS);
  }

  /** Property 3, on what the replica shows now. */
  observe(when: string): void {
    for (const type of TYPES) {
      const held = this.replica.versions(type);
      if (held === undefined) continue;
      for (const record of this.replica.values(type)) {
        const key = `${held.serverVersion}|${type}|${record.id}`;
        const real = this.broker.history.get(`${key}|${record.version}`);
        if (real === undefined) this.violations.push(`${when}: ${type} ${record.id}@${record.version} is no state the server had`);
        else if (hex(real) !== hex(recordBytes(record))) this.violations.push(`${when}: ${type} ${record.id}@${record.version} has other bytes than the server's`);
        const shown = this.shown.get(key);
        if (shown !== undefined && record.version < shown) this.violations.push(`${when}: ${type} ${record.id} moved back from ${shown} to ${record.version}`);
        if (shown === undefined || record.version > shown) this.shown.set(key, record.version);
        const tombstone = this.sentTombstones.get(key);
        if (tombstone !== undefined && record.version <= tombstone) {
          this.violations.push(`${when}: ${type} ${record.id}@${record.version} came back after its tombstone @${tombstone}`);
        }
      }
    }
  }

  /** The replica's records of a type, as `id -> version:bytes`. */
  replicaRecords(type: string): Map<string, string> {
    return new Map([...this.replica.values(type)].map((r) => [r.id, `${r.version}:${hex(recordBytes(r))}`] as const));
  }

  serverRecords(type: string): Map<string, string> {
    return new Map([...this.broker.live(type)].map(([id, r]) => [id, `${r.version}:${hex(r.data!.value)}`] as const));
  }

  describe(): string {
    const lines = [`server version ${this.broker.serverVersion}, latest ${this.broker.latestRecordVersion}, resets ${this.broker.resets}`];
    for (const [type, loop] of this.loops) {
      const s = loop.status;
      const held = this.replica.versions(type);
      lines.push(
        `${type}: expected at ${this.broker.position(type)}; loop ${s.state} at ${s.serverVersion}/${s.recordVersion} (${s.lastError ?? "no error"}); replica at ${held?.serverVersion}/${held?.recordVersion}`,
      );
    }
    for (const s of this.broker.openOnWire()) {
      lines.push(`open ${s.kind} of ${s.type}${s.request === undefined ? "" : ` from ${s.request.recordVersion}`}, drained: ${s.drained}`);
    }
    return lines.join("\n");
  }
}

/** What the runs of one property add up to, to check the scenarios exercised what they should. */
type Coverage = WireCounts & { refreshes: number };
function coverage(): Coverage {
  return { cutByReset: 0, invalidVersion: 0, cleared: 0, connectionFailures: 0, cleanEnds: 0, refusedConnects: 0, refreshes: 0 };
}
function add(into: Coverage, run: Run): void {
  for (const k of Object.keys(run.broker.wire) as Array<keyof WireCounts>) into[k] += run.broker.wire[k];
  into.refreshes += run.refreshes;
}

async function runScenario(scenario: Scenario, serverForgets: boolean, seen: Coverage): Promise<void> {
  const run = new Run(scenario);
  try {
    for (const w of scenario.initial) run.write(w);
    run.start();
    await run.settle();
    for (const action of scenario.actions) {
      await run.perform(action);
      run.observe(`after ${action.kind}`);
    }
    await run.settle();
    run.observe("once settled");

    // 3. never backwards (and nothing invented), at every batch and after every action.
    expect(run.violations).toEqual([]);
    for (const type of TYPES) {
      // 1. convergence: exactly the server's live records, at the server's position.
      expect(run.replicaRecords(type), `${type} equals the server's live records`).toEqual(run.serverRecords(type));
      expect(run.replica.versions(type)?.serverVersion).toBe(run.broker.serverVersion);
      // 2. only the server forgets a position.
      const account = run.broker.snapshots.get(type)!;
      expect(account.abandoned, `${type}: SyncLatest streams abandoned by the loop itself`).toBe(0);
      expect(account.opened, `${type}: SyncLatest runs, with ${account.positionsLost} positions lost by the server`).toBeLessThanOrEqual(1 + account.positionsLost);
      if (!serverForgets) expect(account.opened, `${type}: SyncLatest runs without Clear or compaction`).toBe(1);
    }
    add(seen, run);
  } finally {
    run.close();
  }
}

/** Runs the property over random scenarios; returns what they exercised. */
async function checkScenarios(serverForgets: boolean): Promise<Coverage> {
  const seen = coverage();
  await fc.assert(
    fc.asyncProperty(scenarioArb(serverForgets), (scenario) => runScenario(scenario, serverForgets, seen)),
    PROPERTY_RUNS,
  );
  return seen;
}

describe("sync loops and replica against a simulated databroker", () => {
  it("converge, keep their positions through failures, resets, clean ends and re-reads, and never go backwards", async () => {
    const seen = await checkScenarios(false);
    // The scenarios really cut streams under the loops, ended some cleanly, and re-read.
    expect(seen.connectionFailures).toBeGreaterThan(0);
    expect(seen.cutByReset).toBeGreaterThan(0);
    expect(seen.cleanEnds).toBeGreaterThan(0);
    expect(seen.refusedConnects).toBeGreaterThan(0);
    expect(seen.refreshes).toBeGreaterThan(0);
  }, 120_000);

  it("converge and resync only when the server forgets, through Clear and compaction as well", async () => {
    const seen = await checkScenarios(true);
    expect(seen.cleared).toBeGreaterThan(0);
    expect(seen.invalidVersion).toBeGreaterThan(0);
    expect(seen.cutByReset).toBeGreaterThan(0);
  }, 120_000);
});
