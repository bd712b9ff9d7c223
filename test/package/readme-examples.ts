/**
 * Every code example of the README's user's guide, type-checked with the repo (`tsc --noEmit`)
 * and, in pack.test.ts, compiled and run against the installed tarball (the import below is
 * rewritten to the package name there). Keep the README blocks and these functions in step.
 */
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { anyPack, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createDatabrokerCache,
  RecordSchema,
  SESSION_TYPE,
  SessionSchema,
  USER_TYPE,
  type CacheState,
  type DatabrokerCache,
  type DatabrokerCacheLogger,
  type DatabrokerRecord,
  type DatabrokerVersion,
  type Session,
  versionOfWrite,
} from "../../src/index.js";
import { startInMemoryDatabroker } from "../../src/testing.js";

// ---- README: "Embedding the cache in an authorize function" ----

export async function startCache(url: string, sharedSecretFile: string): Promise<DatabrokerCache> {
  const cache = createDatabrokerCache({
    url, // e.g. "http://localhost:5443"
    sharedSecret: readFileSync(sharedSecretFile, "utf8"), // Pomerium's shared_secret
  });
  await cache.ready({ timeoutMs: 30_000 }); // every mirrored type has its first snapshot
  return cache;
}

/** Synchronous: no network on the request path. */
export function authorize(cache: DatabrokerCache, sessionId: string, requiredGroup: string): boolean {
  const session = cache.getSession(sessionId); // undefined when absent or expired
  if (session === undefined) return false;
  const groups = session.claims["groups"]?.values ?? [];
  return groups.some((v) => v.kind.case === "stringValue" && v.kind.value === requiredGroup);
}

export function emailOf(cache: DatabrokerCache, sessionId: string): string | undefined {
  const session = cache.getSession(sessionId);
  return session === undefined ? undefined : cache.getUser(session.userId)?.email;
}

// ---- README: "Local queries" ----

/** Several sessions in one local query, in id order (no limit given: every match). */
export function sessionRecords(cache: DatabrokerCache, ids: string[]): DatabrokerRecord[] {
  return cache.query(SESSION_TYPE, { filter: { $or: ids.map((id) => ({ id })) } }).records;
}

/** Records held per type; TypeScript's own Record<K, V> is not shadowed by the SDK's types. */
export function recordsPerType(cache: DatabrokerCache): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const record of cache.query("").records) counts[record.type] = (counts[record.type] ?? 0) + 1;
  return counts;
}

// ---- README: "Read-your-writes" ----

export async function signIn(cache: DatabrokerCache, session: Session): Promise<DatabrokerVersion> {
  const response = await cache.client.put({
    records: [create(RecordSchema, { type: SESSION_TYPE, id: session.id, data: anyPack(SessionSchema, session) })],
  });
  return versionOfWrite(response); // { serverVersion, recordVersion }: hand it to whoever reads next
}

export async function readAfterWrite(cache: DatabrokerCache, sessionId: string, version: DatabrokerVersion): Promise<Session | undefined> {
  // Answers from the cache once its stream reached `version`; waits up to 200 ms, then asks the server.
  const { record, source } = await cache.getConsistent(SESSION_TYPE, sessionId, { minVersion: version, waitMs: 200 });
  console.log(`answered from the ${source}`);
  return record?.message as Session | undefined;
}

export async function waitThenRead(cache: DatabrokerCache, sessionId: string, version: DatabrokerVersion): Promise<Session | undefined> {
  // Or wait for the stream explicitly (rejects with ConnectError DeadlineExceeded on timeout).
  await cache.waitForVersion(version, { type: SESSION_TYPE, timeoutMs: 1_000 });
  return cache.getSession(sessionId);
}

// ---- README: "Observing changes" ----

export function observeSignOuts(cache: DatabrokerCache, onSignOut: (sessionId: string) => void): () => void {
  const subscription = cache.changes$(SESSION_TYPE).subscribe((change) => {
    if (change.kind === "overflow") return; // this subscriber fell behind: re-read what it needs from the cache
    for (const record of change.deletes) onSignOut(record.id);
  });
  return () => subscription.unsubscribe();
}

export async function logUserChanges(cache: DatabrokerCache): Promise<void> {
  // The same as an async iterable, pulled at your pace; ends when the cache closes.
  for await (const change of cache.changes(USER_TYPE)) {
    if (change.kind !== "overflow") console.log(`${change.kind}: ${change.upserts.length} upserts, ${change.deletes.length} deletes`);
  }
}

export function watchOneSession(cache: DatabrokerCache, sessionId: string): () => void {
  const subscription = cache.watch$(SESSION_TYPE, sessionId).subscribe((message) => {
    console.log(message === undefined ? "signed out" : "updated");
  });
  return () => subscription.unsubscribe();
}

export function reportHealth(cache: DatabrokerCache): () => void {
  const subscription = cache.state$.subscribe((state: CacheState) => {
    for (const stream of state.streams) {
      if (stream.state === "backing-off") console.warn(`${stream.type}: ${stream.lastError} (retry in ${stream.retryInMs} ms)`);
    }
  });
  return () => subscription.unsubscribe();
}

// ---- README: "Several URLs and TLS" ----

export function highlyAvailableCache(sharedSecret: string): DatabrokerCache {
  return createDatabrokerCache({
    urls: ["https://databroker-0.internal:5443", "https://databroker-1.internal:5443"], // tried in order
    sharedSecret,
    tls: {
      ca: readFileSync("/etc/pomerium/ca.pem"), // added to the system roots
      serverName: "databroker.internal", // checked on the server certificate
    },
    types: [SESSION_TYPE, USER_TYPE], // default: sessions, users and service accounts
  });
}

// ---- README: "Metrics and logs" ----

export function observedCache(url: string, sharedSecret: string): DatabrokerCache {
  const logger: DatabrokerCacheLogger = {
    warn: (message, attributes) => console.warn(message, attributes),
    error: (message, attributes) => console.error(message, attributes),
  };
  // Metrics go to the global OpenTelemetry MeterProvider unless you pass `meter` or `meterProvider`.
  return createDatabrokerCache({ url, sharedSecret, logger });
}

// ---- README: "Using the in-memory databroker in your own tests" ----

export async function inMemoryRoundTrip(): Promise<boolean> {
  const sharedSecret = Buffer.alloc(32, 1).toString("base64"); // any 32 bytes
  const server = await startInMemoryDatabroker({ sharedSecret }); // h2c on 127.0.0.1, a free port
  const cache = createDatabrokerCache({ url: server.url, sharedSecret });
  try {
    await cache.ready({ timeoutMs: 5_000 });
    const session = create(SessionSchema, {
      id: "session-1",
      userId: "user-1",
      expiresAt: timestampFromMs(Date.now() + 3_600_000),
    });
    const version = await signIn(cache, session);
    await cache.waitForVersion(version, { type: SESSION_TYPE, timeoutMs: 5_000 });
    return cache.getSession("session-1")?.userId === "user-1";
  } finally {
    await cache.close();
    await server.close();
  }
}

// ---- README: errors ----

export function isTimeout(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.DeadlineExceeded;
}
