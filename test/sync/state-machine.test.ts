import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  INITIAL_SYNC_STATE,
  SYNC_EVENT_TYPES,
  SYNC_STATE_NAMES,
  TRANSITIONS,
  transition,
  type SyncEventType,
  type SyncMachineEvent,
  type SyncState,
  type SyncStateName,
  type TransitionTarget,
} from "../../src/sync/sync-state-machine.js";

/** One sample event of each type. */
const SAMPLE_EVENTS: { [E in SyncEventType]: Extract<SyncMachineEvent, { type: E }> } = {
  start: { type: "start" },
  connected: { type: "connected" },
  streamMessage: { type: "streamMessage", at: 1000, highestRecordVersion: 12n },
  snapshotReceived: { type: "snapshotReceived", at: 1000, serverVersion: 2n ** 63n + 5n, recordVersion: 10n },
  aborted: { type: "aborted", message: "invalid server version" },
  cancelledByServer: { type: "cancelledByServer", message: "context canceled" },
  refused: { type: "refused", message: "change for server version 3 but the replica holds 2" },
  connectionReset: { type: "connectionReset" },
  streamEnded: { type: "streamEnded", healthy: true },
  idleTimeout: { type: "idleTimeout", idleMs: 50 },
  error: { type: "error", message: "Unavailable: connect ECONNREFUSED", connectionFailure: true },
  unauthenticated: { type: "unauthenticated", message: "invalid JWT" },
  refresh: { type: "refresh", from: 3n },
  retry: { type: "retry" },
  close: { type: "close" },
};

// The expected table, written out independently of the implementation: rows are states,
// columns follow SYNC_EVENT_TYPES. "-" = ignore, "bo" = backing-off, "snap" = snapshotting.
const COLUMNS =
  "start connected streamMessage snapshotReceived aborted cancelledByServer refused connectionReset streamEnded idleTimeout error unauthenticated refresh retry close";
const EXPECTED_ROWS: { [S in SyncStateName]: string } = {
  idle: "        connecting -      -    -    -  -  -  -  -  -  -  -  -    -          closed",
  connecting: "  -          resume -    -    bo bo bo bo bo bo bo bo -    -          closed",
  snapshotting: "-          -      snap live bo bo bo bo bo bo bo bo -    -          closed",
  live: "        -          -      live -    bo bo bo bo bo bo bo bo live -          closed",
  "backing-off": "-          -      -    -    -  -  -  -  -  -  -  -  -    connecting closed",
  closed: "      -          -      -    -    -  -  -  -  -  -  -  -  -    -          -",
};
const ABBREVIATIONS: Record<string, TransitionTarget> = { "-": "ignore", bo: "backing-off", snap: "snapshotting" };

function expectedTarget(state: SyncStateName, event: SyncEventType): TransitionTarget {
  const columns = COLUMNS.trim().split(/\s+/);
  const cells = EXPECTED_ROWS[state].trim().split(/\s+/);
  const cell = cells[columns.indexOf(event)]!;
  return ABBREVIATIONS[cell] ?? (cell as TransitionTarget);
}

function stateNamed(name: SyncStateName, overrides: Partial<SyncState> = {}): SyncState {
  return { ...INITIAL_SYNC_STATE, name, epoch: 7, serverVersion: 99n, recordVersion: 5n, attempt: 2, ...overrides };
}

describe("sync state machine transition table", () => {
  it("has a row for every state and a cell for every event, and nothing else", () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...SYNC_STATE_NAMES].sort());
    for (const state of SYNC_STATE_NAMES) {
      expect(Object.keys(TRANSITIONS[state]).sort()).toEqual([...SYNC_EVENT_TYPES].sort());
    }
    expect(COLUMNS.trim().split(/\s+/)).toEqual([...SYNC_EVENT_TYPES]);
  });

  const pairs = SYNC_STATE_NAMES.flatMap((state) => SYNC_EVENT_TYPES.map((event) => [state, event] as const));
  it.each(pairs)("in %s, %s goes where the expected table says", (state, event) => {
    const expected = expectedTarget(state, event);
    expect(TRANSITIONS[state][event]).toBe(expected);
    const before = stateNamed(state);
    const after = transition(before, SAMPLE_EVENTS[event]);
    if (expected === "ignore") {
      expect(after).toBe(before);
    } else if (expected === "resume") {
      expect(after.name).toBe("live");
    } else {
      expect(after.name).toBe(expected);
    }
  });

  it("makes closed terminal: no event leaves it", () => {
    for (const event of SYNC_EVENT_TYPES) {
      const closed = stateNamed("closed");
      expect(transition(closed, SAMPLE_EVENTS[event])).toBe(closed);
    }
  });

  it("lets close end every state that is not already closed", () => {
    for (const state of SYNC_STATE_NAMES.filter((s) => s !== "closed")) {
      expect(transition(stateNamed(state), { type: "close" }).name).toBe("closed");
    }
  });
});

describe("sync state machine context updates", () => {
  it("once connected, resumes Sync when a position is held and reads a snapshot when it is not", () => {
    expect(transition(stateNamed("connecting", { serverVersion: 3n }), { type: "connected" }).name).toBe("live");
    expect(transition(stateNamed("connecting", { serverVersion: undefined }), { type: "connected" }).name).toBe("snapshotting");
  });

  it("always reconnects after backing off", () => {
    expect(transition(stateNamed("backing-off", { serverVersion: 3n }), { type: "retry" }).name).toBe("connecting");
    expect(transition(stateNamed("backing-off", { serverVersion: undefined }), { type: "retry" }).name).toBe("connecting");
  });

  it("takes the position and resets the attempt count from a completed snapshot", () => {
    const next = transition(stateNamed("snapshotting", { serverVersion: undefined, attempt: 4, lastError: "x" }), SAMPLE_EVENTS.snapshotReceived);
    expect(next).toMatchObject({ name: "live", serverVersion: 2n ** 63n + 5n, recordVersion: 10n, attempt: 0, lastError: undefined });
  });

  it("advances the record version and resets the attempt count on a change batch in live", () => {
    const next = transition(stateNamed("live", { recordVersion: 5n, attempt: 3 }), { type: "streamMessage", at: 5, highestRecordVersion: 9n });
    expect(next).toMatchObject({ name: "live", recordVersion: 9n, attempt: 0, lastMessageAt: 5 });
  });

  it("never moves the record version backwards", () => {
    const next = transition(stateNamed("live", { recordVersion: 50n }), { type: "streamMessage", at: 5, highestRecordVersion: 9n });
    expect(next.recordVersion).toBe(50n);
  });

  it("does not count snapshot messages or options-only Sync messages as progress", () => {
    expect(transition(stateNamed("snapshotting", { attempt: 3 }), { type: "streamMessage", at: 1 }).attempt).toBe(3);
    expect(transition(stateNamed("live", { attempt: 3 }), { type: "streamMessage", at: 1 }).attempt).toBe(3);
  });

  it.each(["aborted", "cancelledByServer", "refused"] as const)("forgets the position on %s so the retry is an immediate resync", (event) => {
    const next = transition(stateNamed("live"), SAMPLE_EVENTS[event]);
    expect(next).toMatchObject({ name: "backing-off", serverVersion: undefined, recordVersion: 0n, attempt: 3, retryKind: "resync" });
    expect(transition(transition(next, { type: "retry" }), { type: "connected" }).name).toBe("snapshotting");
  });

  it.each([
    ["streamEnded", SAMPLE_EVENTS.streamEnded, 0, "resume"],
    ["an early streamEnded", { type: "streamEnded", healthy: false }, 3, "backoff"],
    ["idleTimeout", SAMPLE_EVENTS.idleTimeout, 0, "resume"],
    ["connectionReset", SAMPLE_EVENTS.connectionReset, 2, "resume"],
    ["a connection error", SAMPLE_EVENTS.error, 3, "reconnect"],
    ["another error", { type: "error", message: "Internal: boom", connectionFailure: false }, 3, "backoff"],
  ] as const)("keeps the position on %s so the retry resumes Sync", (_name, event, attempt, retryKind) => {
    const next = transition(stateNamed("live"), event as SyncMachineEvent);
    expect(next).toMatchObject({ name: "backing-off", serverVersion: 99n, recordVersion: 5n, attempt, retryKind });
    expect(transition(transition(next, { type: "retry" }), { type: "connected" }).name).toBe("live");
  });

  it("restarts a live stream from an older position on refresh, in a new epoch, never past the current position", () => {
    const live = stateNamed("live", { recordVersion: 50n });
    const refreshed = transition(live, { type: "refresh", from: 40n });
    expect(refreshed).toMatchObject({ name: "live", recordVersion: 40n, serverVersion: 99n, epoch: live.epoch + 1 });
    expect(transition(live, { type: "refresh", from: 60n }).recordVersion).toBe(50n);
  });

  it("marks an authentication failure for the slow retry and names the shared secret", () => {
    const next = transition(stateNamed("connecting"), SAMPLE_EVENTS.unauthenticated);
    expect(next.retryKind).toBe("auth");
    expect(next.lastError).toContain("sharedSecret");
    expect(next.lastError).toContain("shared_secret");
  });

  it("starts a new epoch on every change of state, but not on self-loops", () => {
    const connecting = transition(INITIAL_SYNC_STATE, { type: "start" });
    expect(connecting.epoch).toBe(1);
    const snapshotting = transition(connecting, { type: "connected" });
    expect(snapshotting.epoch).toBe(2);
    expect(transition(snapshotting, { type: "streamMessage", at: 2 }).epoch).toBe(2);
    const live = transition(snapshotting, SAMPLE_EVENTS.snapshotReceived);
    expect(live.epoch).toBe(3);
    expect(transition(live, SAMPLE_EVENTS.streamMessage).epoch).toBe(3);
    expect(transition(live, SAMPLE_EVENTS.error).epoch).toBe(4);
  });
});

describe("sync state machine over random event sequences", () => {
  const arbitraryEvent: fc.Arbitrary<SyncMachineEvent> = fc.oneof(
    fc.constant<SyncMachineEvent>({ type: "start" }),
    fc.constant<SyncMachineEvent>({ type: "connected" }),
    fc.record({ type: fc.constant("streamMessage" as const), at: fc.nat(), highestRecordVersion: fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: undefined }) }),
    fc.record({ type: fc.constant("snapshotReceived" as const), at: fc.nat(), serverVersion: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), recordVersion: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
    fc.constant<SyncMachineEvent>({ type: "aborted", message: "m" }),
    fc.constant<SyncMachineEvent>({ type: "cancelledByServer", message: "m" }),
    fc.constant<SyncMachineEvent>({ type: "refused", message: "m" }),
    fc.constant<SyncMachineEvent>({ type: "connectionReset" }),
    fc.boolean().map((healthy): SyncMachineEvent => ({ type: "streamEnded", healthy })),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((from): SyncMachineEvent => ({ type: "refresh", from })),
    fc.constant<SyncMachineEvent>({ type: "idleTimeout", idleMs: 1 }),
    fc.boolean().map((connectionFailure): SyncMachineEvent => ({ type: "error", message: "m", connectionFailure })),
    fc.constant<SyncMachineEvent>({ type: "unauthenticated", message: "m" }),
    fc.constant<SyncMachineEvent>({ type: "retry" }),
    fc.constant<SyncMachineEvent>({ type: "close" }),
  );

  it("keeps its invariants: closed is terminal, requests reopen only via backing-off, versions never go back within a server version, epochs only grow", () => {
    fc.assert(
      fc.property(fc.array(arbitraryEvent, { maxLength: 60 }), (events) => {
        let state = INITIAL_SYNC_STATE;
        for (const event of events) {
          const next = transition(state, event);
          if (state.name === "closed") expect(next).toBe(state);
          expect(next.epoch).toBeGreaterThanOrEqual(state.epoch);
          // Connections are (re)opened only by start or after backing off; streams only once connected.
          const via = `${state.name}:${event.type}`;
          if (next.epoch !== state.epoch && next.name === "connecting") expect(["idle:start", "backing-off:retry"]).toContain(via);
          if (next.epoch !== state.epoch && (next.name === "snapshotting" || next.name === "live")) {
            expect(["connecting:connected", "snapshotting:snapshotReceived", "live:refresh"]).toContain(via);
          }
          // The position only moves back on a refresh, which re-reads from a position it held.
          if (next.serverVersion !== undefined && next.serverVersion === state.serverVersion && event.type !== "snapshotReceived") {
            if (event.type === "refresh") expect(next.recordVersion <= state.recordVersion).toBe(true);
            else expect(next.recordVersion >= state.recordVersion).toBe(true);
          }
          if (next.name === "backing-off" && next !== state) expect(next.retryKind).toBeDefined();
          state = next;
        }
      }),
      { numRuns: 500 },
    );
  });
});
