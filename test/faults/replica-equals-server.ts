/**
 * The end check of every fault scenario: a fresh SyncLatest per mirrored type against the server
 * (over its own connection, never through a fault proxy) must list exactly the records the cache
 * holds, with the same versions and the same data bytes.
 */
import { createClient } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { DataBrokerService, type Record as DatabrokerRecord } from "../../gen/databroker/databroker_pb.js";
import type { DatabrokerCache } from "../../src/cache/databroker-cache.js";
import { recordBytes } from "../../src/replica/cached-record.js";
import { JWT_METADATA_KEY, parseSharedSecret, signDatabrokerJwt } from "../../src/transport/shared-secret.js";

export interface ServerRef {
  readonly url: string;
  readonly sharedSecret: string;
}

export interface EqualityOptions {
  /** Server records the cache must NOT hold (e.g. malformed ones it skips), by `${type}/${id}`. */
  readonly expectAbsent?: ReadonlySet<string>;
  readonly timeoutMs?: number;
}

/** What the server's SyncLatest returns for one type: id -> record. One connection, closed after. */
export async function serverSnapshot(server: ServerRef, type: string): Promise<Map<string, DatabrokerRecord>> {
  const key = parseSharedSecret(server.sharedSecret);
  const sessionManager = new Http2SessionManager(server.url);
  const transport = createGrpcTransport({
    baseUrl: server.url,
    sessionManager,
    acceptCompression: [],
    interceptors: [(next) => async (req) => (req.header.set(JWT_METADATA_KEY, await signDatabrokerJwt(key)), next(req))],
  });
  const client = createClient(DataBrokerService, transport);
  const records = new Map<string, DatabrokerRecord>();
  try {
    for await (const res of client.syncLatest({ type }, { timeoutMs: 5000 })) {
      if (res.response.case === "record") records.set(res.response.value.id, res.response.value);
    }
  } finally {
    sessionManager.abort();
  }
  return records;
}

/** The differences between the cache and one server snapshot, as readable lines (empty = equal). */
export function differences(cache: DatabrokerCache, type: string, server: Map<string, DatabrokerRecord>, expectAbsent: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  let expectedSize = 0;
  for (const [id, record] of server) {
    const held = cache.get(type, id);
    if (expectAbsent.has(`${type}/${id}`)) {
      if (held !== undefined) out.push(`${id}: held, but must be absent`);
      continue;
    }
    expectedSize++;
    if (held === undefined) {
      out.push(`${id}: missing (server v${record.version})`);
      continue;
    }
    if (held.version !== record.version) out.push(`${id}: version ${held.version} != server ${record.version}`);
    const serverBytes = record.data?.value ?? new Uint8Array();
    if (held.typeUrl !== (record.data?.typeUrl ?? "") || Buffer.compare(Buffer.from(recordBytes(held)), Buffer.from(serverBytes)) !== 0) {
      out.push(`${id}: data differs`);
    }
  }
  if (cache.size(type) !== expectedSize) out.push(`size ${cache.size(type)} != server ${expectedSize} (extra records held)`);
  return out;
}

/**
 * Polls until the cache equals the server for every type; resolves with the time it took.
 * Rejects with the remaining differences after the timeout.
 */
export async function awaitReplicaEqualsServer(cache: DatabrokerCache, server: ServerRef, types: readonly string[], options: EqualityOptions = {}): Promise<number> {
  const started = performance.now();
  const deadline = started + (options.timeoutMs ?? 10_000);
  for (;;) {
    const diffs: string[] = [];
    for (const type of types) {
      const snapshot = await serverSnapshot(server, type);
      for (const d of differences(cache, type, snapshot, options.expectAbsent)) diffs.push(`${type}: ${d}`);
    }
    if (diffs.length === 0) return performance.now() - started;
    if (performance.now() > deadline) {
      throw new Error(`replica differs from the server's SyncLatest:\n  ${diffs.slice(0, 20).join("\n  ")}${diffs.length > 20 ? `\n  ... ${diffs.length - 20} more` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
