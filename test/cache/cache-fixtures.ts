/** Shared helpers for the facade tests: a real in-memory databroker, a writer client, records. */
import { randomBytes } from "node:crypto";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { AnySchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { RecordSchema, type Record as DatabrokerRecord } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { ServiceAccountSchema, UserSchema } from "../../gen/user/user_pb.js";
import { createDatabrokerCache, type DatabrokerCache, type DatabrokerCacheOptions } from "../../src/index.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../../src/records/type-urls.js";
import { startInMemoryDatabroker, type InMemoryDatabrokerOptions, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { databrokerClients, type TestClients } from "../server/databroker-client.js";
export { sleep, until } from "../support/wait-until.js";

export const SECRET = randomBytes(32).toString("base64");
export const FAST_RETRY = { initialDelayMs: 20, maxDelayMs: 200, authRetryDelayMs: 200, fastLoopMaxRetries: 50, fastLoopWindowMs: 1000 };

export class Cleanups {
  readonly #fns: Array<() => unknown> = [];
  add(fn: () => unknown): void {
    this.#fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.#fns.splice(0).reverse()) await fn();
  }
}

export async function startServer(cleanups: Cleanups, options: Partial<InMemoryDatabrokerOptions> = {}): Promise<RunningInMemoryDatabroker> {
  const server = await startInMemoryDatabroker({ sharedSecret: SECRET, ...options });
  cleanups.add(() => server.close());
  return server;
}

/** A writer with its own connection, like another Pomerium service. */
export function writer(url: string): TestClients["databroker"] {
  return databrokerClients(url, SECRET).databroker;
}

export function cacheFor(cleanups: Cleanups, url: string, options: Partial<DatabrokerCacheOptions> = {}): DatabrokerCache {
  const cache = createDatabrokerCache({ url, sharedSecret: SECRET, retry: FAST_RETRY, ...options });
  cleanups.add(() => cache.close());
  return cache;
}

function recordOf<D extends DescMessage>(schema: D, type: string, id: string, init: MessageInitShape<D>): DatabrokerRecord {
  return create(RecordSchema, {
    type,
    id,
    data: create(AnySchema, { typeUrl: `type.googleapis.com/${schema.typeName}`, value: toBinary(schema, create(schema, init)) }),
  });
}

export function session(id: string, userId: string, extra: MessageInitShape<typeof SessionSchema> = {}): DatabrokerRecord {
  return recordOf(SessionSchema, SESSION_TYPE, id, { id, userId, ...extra });
}

export function user(id: string, email: string, name = ""): DatabrokerRecord {
  return recordOf(UserSchema, USER_TYPE, id, { id, email, name });
}

export function serviceAccount(id: string, userId: string, extra: MessageInitShape<typeof ServiceAccountSchema> = {}): DatabrokerRecord {
  return recordOf(ServiceAccountSchema, SERVICE_ACCOUNT_TYPE, id, { id, userId, ...extra });
}

export function deleted(record: DatabrokerRecord): DatabrokerRecord {
  return create(RecordSchema, { ...record, deletedAt: timestampFromMs(Date.now()) });
}


/** Whether each of the cache's streams is on `head`'s server version and has read through its record version. */
export function streamsReached(cache: DatabrokerCache, head: { serverVersion: bigint; recordVersion: bigint }): boolean {
  return cache.state.streams.every((s) => s.serverVersion === head.serverVersion && s.recordVersion !== undefined && s.recordVersion >= head.recordVersion);
}
