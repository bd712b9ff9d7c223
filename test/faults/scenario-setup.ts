/** The setup most fault scenarios share: a seeded server, a fault proxy, the vanish probe. */
import { startTcpFaultProxy, type TcpFaultProxy } from "../support/tcp-fault-proxy.js";
import type { Record as DatabrokerRecord } from "../../gen/databroker/databroker_pb.js";
import type { DatabrokerCache } from "../../src/cache/databroker-cache.js";
import { SECRET, SESSION_TYPE, population, startServer, writer, type Cleanups } from "./fault-fixtures.js";
import { startVanishProbe, type VanishProbe } from "./session-vanish-probe.js";

/** Our server, seeded with `population(prefix, count)` followed by `extra`. */
export async function seededServer(cleanups: Cleanups, prefix: string, count: number, extra: readonly DatabrokerRecord[] = []) {
  const server = await startServer(cleanups);
  const db = writer(server.url);
  const records = population(prefix, count);
  await db.put({ records: [...records, ...extra] });
  return { server, db, records, ref: { url: server.url, sharedSecret: SECRET } };
}

/** A TCP fault proxy in front of `port`, closed with the scenario. */
export async function faultProxy(cleanups: Cleanups, port: number): Promise<TcpFaultProxy> {
  const proxy = await startTcpFaultProxy(port);
  cleanups.add(() => proxy.close());
  return proxy;
}

/** Watches every seeded session for a read that comes back empty; stopped with the scenario. */
export function probeSeededSessions(cleanups: Cleanups, cache: DatabrokerCache, records: readonly DatabrokerRecord[]): VanishProbe {
  const probe = startVanishProbe(cache, records.filter((r) => r.type === SESSION_TYPE).map((r) => r.id));
  cleanups.add(() => probe.stop());
  return probe;
}
