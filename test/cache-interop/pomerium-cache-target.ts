/**
 * Pomerium's own databroker (the Go peer, v0.32.9) as a server for the cache's integration tests,
 * on memory or on a throwaway PostgreSQL database of this file's own. When the peer or PostgreSQL
 * cannot run here, start fails with what to do about it: a run without them must not look green.
 */
import { randomBytes } from "node:crypto";
import { requirePomeriumOrExplain } from "../interop/interop-availability.js";
import { startPomerium, type PomeriumInstance } from "../support/pomerium-harness.js";
import { PostgresUnavailableError, startPostgresCluster, type PostgresCluster } from "../support/postgres-cluster.js";
import { databrokerClients, type TestClients } from "../server/databroker-client.js";

export type CacheInteropStorage = "memory" | "postgres";
export const STORAGES: readonly CacheInteropStorage[] = ["memory", "postgres"];

export interface CacheInteropTarget {
  readonly storage: CacheInteropStorage;
  readonly url: string;
  readonly sharedSecret: string;
  /** A writer with its own connection, like another Pomerium service. */
  readonly writer: TestClients["databroker"];
  /** On postgres: the cluster and the database the peer uses. */
  readonly postgres: { readonly cluster: PostgresCluster; readonly database: string } | undefined;
  /** The peer's log tail, for failure messages. */
  logTail(): string;
  close(): Promise<void>;
}

async function startCluster(): Promise<PostgresCluster> {
  try {
    return await startPostgresCluster();
  } catch (err) {
    if (err instanceof PostgresUnavailableError) {
      throw new Error(`${err.message}\nThe pomerium-postgres cache tests need PostgreSQL server binaries: run .ci/interop-setup.sh`);
    }
    throw err;
  }
}

/** Starts the peer on fresh storage; `label` names the database and the log files. */
export async function startCacheInteropTarget(storage: CacheInteropStorage, label: string): Promise<CacheInteropTarget> {
  await requirePomeriumOrExplain();
  const sharedSecret = randomBytes(32).toString("base64");
  let cluster: PostgresCluster | undefined;
  let instance: PomeriumInstance;
  const database = label.replace(/[^a-z0-9_]/gi, "_").toLowerCase();
  if (storage === "postgres") {
    cluster = await startCluster();
    try {
      await cluster.createDatabase(database);
      const dsn = cluster.dsn(database);
      // On a fresh database the instance that creates the schema reports a server version other
      // than the stored one (see test/interop/ha-pair.test.ts): let one migrate and go away first.
      const migrator = await startPomerium({ storage, dsn, sharedSecret, name: `${label}-migrator` });
      await migrator.stop();
      instance = await startPomerium({ storage, dsn, sharedSecret, name: label });
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  } else {
    instance = await startPomerium({ storage, sharedSecret, name: label });
  }
  const writer = databrokerClients(instance.url, sharedSecret).databroker;
  return {
    storage,
    url: instance.url,
    sharedSecret,
    writer,
    postgres: cluster === undefined ? undefined : { cluster, database },
    logTail: () => instance.logTail(),
    async close() {
      await instance.stop();
      await cluster?.stop();
    },
  };
}
