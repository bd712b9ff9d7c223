/**
 * The demo's writer: traffic like an identity-aware proxy's, through the real Put API. Each tick
 * writes one batch mixing sign-ins (new sessions), refreshes (the same session with new tokens
 * and expiry), sign-outs (deletes) and expiries (the session rewritten with expires_at in the
 * past, so getSession stops returning it). The live set stays about the size it was seeded with.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RecordSchema, type Record } from "../../gen/databroker/databroker_pb.js";
import { DemoRecords, SESSION_TYPE_URL } from "../demo/demo-records.js";
import type { DataBrokerClient } from "../transport/databroker-clients.js";

const TICK_MS = 100;
const SESSION_TTL_MS = 14 * 3600_000;

export interface DemoWriterCounts {
  signIns: number;
  refreshes: number;
  signOuts: number;
  expiries: number;
  /** Put calls that failed (the writer keeps going). */
  errors: number;
}

interface LiveSession {
  readonly id: string;
  readonly userIndex: number;
}

export class DemoWriter {
  readonly counts: DemoWriterCounts = { signIns: 0, refreshes: 0, signOuts: 0, expiries: 0, errors: 0 };
  readonly #client: DataBrokerClient;
  readonly #demo: DemoRecords;
  readonly #users: number;
  readonly #perTick: number;
  readonly #live: LiveSession[] = [];
  readonly #expired: LiveSession[] = [];
  #nextSession: number;
  #random: () => number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(client: DataBrokerClient, options: { users: number; sessions: number; writesPerSecond: number; seed?: number }) {
    this.#client = client;
    this.#demo = new DemoRecords({ seed: (options.seed ?? 1) + 1 });
    this.#users = Math.max(1, options.users);
    this.#perTick = Math.max(1, Math.round((options.writesPerSecond * TICK_MS) / 1000));
    for (let n = 0; n < options.sessions; n++) this.#live.push({ id: `session-${n}`, userIndex: n % this.#users });
    this.#nextSession = options.sessions;
    let state = 0x9e3779b9;
    this.#random = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 4294967296;
    };
  }

  get liveSessions(): number {
    return this.#live.length;
  }

  start(): void {
    // One batch at a time: a slow server slows the writer instead of piling up calls.
    this.#timer ??= setInterval(() => {
      if (this.#inFlight === undefined) this.#inFlight = this.#tick().finally(() => (this.#inFlight = undefined));
    }, TICK_MS);
  }

  /** Stops ticking and waits for the batch in flight. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }

  async #tick(): Promise<void> {
    const records: Record[] = [];
    for (let i = 0; i < this.#perTick; i++) records.push(this.#next());
    try {
      await this.#client.put({ records });
    } catch {
      this.counts.errors++;
    }
  }

  /** Picks an action, keeping the live set near its seeded size (sign-ins balance the rest). */
  #next(): Record {
    const roll = this.#random();
    if (this.#live.length === 0 || roll < 0.3) return this.#signIn();
    if (roll < 0.7) return this.#refresh();
    if (roll < 0.9 || this.#expired.length > 100) return this.#signOut();
    return this.#expire();
  }

  #signIn(): Record {
    const session = { id: `session-${this.#nextSession++}`, userIndex: Math.floor(this.#random() * this.#users) };
    this.#live.push(session);
    this.counts.signIns++;
    return DemoRecords.record(this.#demo.session(session.id, session.userIndex, SESSION_TTL_MS));
  }

  #refresh(): Record {
    const session = this.#live[Math.floor(this.#random() * this.#live.length)]!;
    this.counts.refreshes++;
    return DemoRecords.record(this.#demo.session(session.id, session.userIndex, SESSION_TTL_MS));
  }

  #signOut(): Record {
    // Sign out an expired session first when there is one (a user coming back), else a live one.
    const fromExpired = this.#expired.length > 0 && this.#random() < 0.5;
    const pool = fromExpired ? this.#expired : this.#live;
    const session = takeRandom(pool, this.#random);
    this.counts.signOuts++;
    return create(RecordSchema, { type: SESSION_TYPE_URL, id: session.id, deletedAt: timestampNow() });
  }

  #expire(): Record {
    const session = takeRandom(this.#live, this.#random);
    this.#expired.push(session);
    this.counts.expiries++;
    return DemoRecords.record(this.#demo.session(session.id, session.userIndex, -1_000));
  }
}

function takeRandom<T>(items: T[], random: () => number): T {
  const i = Math.floor(random() * items.length);
  const item = items[i]!;
  items[i] = items[items.length - 1]!;
  items.pop();
  return item;
}
