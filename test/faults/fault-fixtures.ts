/** Shared pieces of the fault scenarios: servers, writers, records, caches, timing and metrics. */
import { randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Attributes, Meter } from "@opentelemetry/api";
import { RecordSchema, type Record as DatabrokerRecord } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import type { CacheChange } from "../../src/cache/change-buffer.js";
import { createDatabrokerCache, type DatabrokerCache } from "../../src/cache/databroker-cache.js";
import { DEFAULT_CACHE_TRANSPORT, type DatabrokerCacheOptions } from "../../src/cache/cache-options.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS, type DatabrokerTransportImplementation } from "../../src/transport/databroker-transport.js";
import type { DatabrokerCacheLogAttributes, DatabrokerCacheLogger, DatabrokerCacheLogLevel } from "../../src/observability/cache-logger.js";
import { SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { startInMemoryDatabroker, type InMemoryDatabrokerOptions, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { databrokerClients, type TestClients } from "../server/databroker-client.js";
import { sleep } from "../support/wait-until.js";
export { sleep, until } from "../support/wait-until.js";

export { SESSION_TYPE, USER_TYPE };
export const SECRET = randomBytes(32).toString("base64");
/** Fast enough for tests, still through the backoff (no hot loop). */
export const FAST_RETRY = { initialDelayMs: 20, maxDelayMs: 200, authRetryDelayMs: 200, fastLoopMaxRetries: 50, fastLoopWindowMs: 1000 };
export const TYPES = [SESSION_TYPE, USER_TYPE] as const;

export class Cleanups {
  readonly #fns: Array<() => unknown> = [];
  add(fn: () => unknown): void {
    this.#fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.#fns.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // a cleanup of something already gone
      }
    }
  }
}

export async function startServer(cleanups: Cleanups, options: Partial<InMemoryDatabrokerOptions> = {}): Promise<RunningInMemoryDatabroker> {
  const server = await startInMemoryDatabroker({ sharedSecret: SECRET, ...options });
  cleanups.add(() => server.close());
  return server;
}

/** A writer on its own connection (another Pomerium service), straight to the server. */
export function writer(url: string, sharedSecret = SECRET): TestClients["databroker"] {
  return databrokerClients(url, sharedSecret).databroker;
}

/** Collects the cache's log lines, to assert on what it said and on what it never said. */
export class LogCapture implements DatabrokerCacheLogger {
  readonly lines: { level: DatabrokerCacheLogLevel; message: string; attributes: DatabrokerCacheLogAttributes | undefined }[] = [];
  debug(message: string, attributes?: DatabrokerCacheLogAttributes): void {
    this.lines.push({ level: "debug", message, attributes });
  }
  info(message: string, attributes?: DatabrokerCacheLogAttributes): void {
    this.lines.push({ level: "info", message, attributes });
  }
  warn(message: string, attributes?: DatabrokerCacheLogAttributes): void {
    this.lines.push({ level: "warn", message, attributes });
  }
  error(message: string, attributes?: DatabrokerCacheLogAttributes): void {
    this.lines.push({ level: "error", message, attributes });
  }
  /** Everything logged, as one string (messages and attributes). */
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.attributes ?? {})}`).join("\n");
  }
}

/** A Meter that counts what counters were given: name -> total (all attributes summed). */
export class CountingMeter {
  readonly totals = new Map<string, number>();
  readonly meter: Meter;
  constructor() {
    const instrument = (name: string) => ({
      add: (value: number, _attributes?: Attributes) => this.totals.set(name, (this.totals.get(name) ?? 0) + value),
      record: () => {},
      addCallback: () => {},
      removeCallback: () => {},
    });
    this.meter = new Proxy({} as Meter, {
      get: (_target, prop: string) => {
        if (prop === "addBatchObservableCallback" || prop === "removeBatchObservableCallback") return () => {};
        if (prop.startsWith("create")) return (name: string) => instrument(name);
        return undefined;
      },
    });
  }
  total(name: string): number {
    return this.totals.get(name) ?? 0;
  }
}

export function cacheFor(cleanups: Cleanups, options: Partial<DatabrokerCacheOptions> & { url?: string; urls?: readonly string[] }): DatabrokerCache {
  const cache = createDatabrokerCache({ sharedSecret: SECRET, retry: FAST_RETRY, types: TYPES, ...options });
  cleanups.add(() => cache.close());
  return cache;
}

/** Records every batch kind the cache emitted, with when. */
export function recordChanges(cache: DatabrokerCache, cleanups: Cleanups): CacheChange[] {
  const seen: CacheChange[] = [];
  const sub = cache.changes$().subscribe((c) => seen.push(c));
  cleanups.add(() => sub.unsubscribe());
  return seen;
}

export function session(id: string, userId: string, extra: Partial<{ expiresInMs: number }> = {}): DatabrokerRecord {
  const init = { id, userId, ...(extra.expiresInMs !== undefined ? { expiresAt: { seconds: BigInt(Math.floor((Date.now() + extra.expiresInMs) / 1000)), nanos: 0 } } : {}) };
  return create(RecordSchema, {
    type: SESSION_TYPE,
    id,
    data: create(AnySchema, { typeUrl: SESSION_TYPE, value: toBinary(SessionSchema, create(SessionSchema, init)) }),
  });
}

export function user(id: string, email: string): DatabrokerRecord {
  return create(RecordSchema, {
    type: USER_TYPE,
    id,
    data: create(AnySchema, { typeUrl: USER_TYPE, value: toBinary(UserSchema, create(UserSchema, { id, email })) }),
  });
}

/** A tombstone for Put: deleted_at set. */
export function tombstone(type: string, id: string): DatabrokerRecord {
  return create(RecordSchema, { type, id, deletedAt: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 } });
}

/** n sessions s-<prefix>-<i> of users u-<i % 5>, and those users. */
export function population(prefix: string, n: number): DatabrokerRecord[] {
  const records: DatabrokerRecord[] = [];
  for (let i = 0; i < 5; i++) records.push(user(`u-${prefix}-${i}`, `${prefix}-${i}@example.com`));
  for (let i = 0; i < n; i++) records.push(session(`s-${prefix}-${i}`, `u-${prefix}-${i % 5}`));
  return records;
}


/** The transport a scenario's cache runs on: CACHE_TRANSPORT (set by the test), else the default. */
export function transportFromEnv(): DatabrokerTransportImplementation {
  const name = process.env["CACHE_TRANSPORT"] ?? DEFAULT_CACHE_TRANSPORT;
  const known = DATABROKER_TRANSPORT_IMPLEMENTATIONS.find((i) => i === name);
  if (known === undefined) throw new Error(`CACHE_TRANSPORT=${name}: want one of ${DATABROKER_TRANSPORT_IMPLEMENTATIONS.join(", ")}`);
  return known;
}

/** One line per scenario for the lead to quote. */
export function printHealTime(scenario: string, ms: number): void {
  console.log(`heal-time scenario=${scenario} ms=${Math.round(ms)}`);
}

/**
 * Keeps writing sessions (one Put each) until stopped; resolves with the ids written. `written`
 * counts the Puts acknowledged so far (to wait on the writer's progress, not on the clock).
 */
export function startWriting(db: TestClients["databroker"], prefix: string, everyMs: number): { stop(): Promise<string[]>; readonly written: number } {
  const ids: string[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const id = `s-${prefix}-${i}`;
      await db.put({ records: [session(id, "u-writer")] });
      ids.push(id);
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return ids;
    },
    get written() {
      return ids.length;
    },
  };
}
