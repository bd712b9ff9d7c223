/**
 * Pomerium's own databroker as contract-suite targets (test/conformance/targets.ts imports this):
 * pomerium-memory, pomerium-file and pomerium-postgres, served by the Go peer in interop/pomerium.
 *
 * reset() restarts the server on fresh storage and on the same port (memory: restart; file: new
 * data dir; postgres: a new database, the old one dropped). compact() goes through the peer's
 * admin channel. No cleanup(): the peer is Pomerium v0.32.9, which has no per-type TTL option,
 * so the TTL contract does not apply (see interop/pomerium/README.md).
 *
 * A target that cannot run here is skipped with one loud line naming it and why; with
 * REQUIRE_INTEROP=1 it is an error instead.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { ConformanceTarget, StorageFlavour } from "../conformance/target.js";
import { ensurePomeriumBinary, startPomerium, type PomeriumInstance } from "../support/pomerium-harness.js";
import { startPostgresCluster, type PostgresCluster } from "../support/postgres-cluster.js";

const ALL = ["pomerium-memory", "pomerium-file", "pomerium-postgres"] as const;

function interopRequired(): boolean {
  return process.env["REQUIRE_INTEROP"] === "1";
}

/** One line per skipped target, loud enough to notice in a passing run. */
function skip(name: string, why: string): void {
  if (interopRequired()) {
    throw new Error(`REQUIRE_INTEROP=1 but target ${name} is unavailable: ${why}`);
  }
  console.warn(`!!! INTEROP TARGET SKIPPED: ${name}: ${why}`);
}

function randomSharedSecret(): string {
  return randomBytes(32).toString("base64");
}

/** The pieces that differ per storage: where fresh storage comes from and how it is discarded. */
interface StorageLifecycle {
  /** Fresh storage for the next start; returns the DSN. */
  fresh(): Promise<string | undefined>;
  /** Discards the storage behind a DSN (after its server stopped). */
  discard(dsn: string | undefined): Promise<void>;
  /** Frees everything after the last server stopped. */
  close(): Promise<void>;
}

async function startTarget(name: string, flavour: StorageFlavour, storage: StorageLifecycle): Promise<ConformanceTarget> {
  const sharedSecret = randomSharedSecret();
  let dsn = await storage.fresh();
  let instance: PomeriumInstance = await startPomerium({ storage: flavour, sharedSecret, name, ...(dsn !== undefined ? { dsn } : {}) });
  const port = instance.port;
  const url = instance.url;
  let closed = false;
  return {
    name,
    url,
    sharedSecret,
    flavour,
    isOurs: false,
    pomeriumVersion: instance.pomeriumVersion,
    async reset() {
      await instance.stop();
      await storage.discard(dsn);
      dsn = await storage.fresh();
      instance = await startPomerium({ storage: flavour, sharedSecret, name, port, ...(dsn !== undefined ? { dsn } : {}) });
    },
    async compact() {
      await instance.compact();
    },
    async close() {
      if (closed) return;
      closed = true;
      await instance.stop();
      await storage.discard(dsn);
      await storage.close();
    },
  };
}

const memoryStorage = (): StorageLifecycle => ({
  fresh: async () => undefined,
  discard: async () => {},
  close: async () => {},
});

const fileStorage = (): StorageLifecycle => ({
  fresh: async () => await mkdtemp(join(tmpdir(), "pomerium-file-")),
  discard: async (dir) => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  },
  close: async () => {},
});

function postgresStorage(cluster: PostgresCluster): StorageLifecycle {
  let n = 0;
  const dbOf = (dsn: string) => new URL(dsn).pathname.slice(1);
  return {
    fresh: async () => {
      const db = `pomerium_${++n}`;
      await cluster.createDatabase(db);
      return cluster.dsn(db);
    },
    discard: async (dsn) => {
      if (dsn !== undefined) await cluster.dropDatabase(dbOf(dsn));
    },
    close: () => cluster.stop(),
  };
}

/** Every Pomerium target that can run here (fewer, with a loud line each, when some cannot). */
export async function pomeriumTargets(): Promise<ConformanceTarget[]> {
  try {
    await ensurePomeriumBinary();
  } catch (err) {
    for (const name of ALL) skip(name, (err as Error).message.split("\n")[0] ?? "unknown error");
    return [];
  }

  const attempts: Array<Promise<ConformanceTarget | undefined>> = [
    startTarget("pomerium-memory", "memory", memoryStorage()).catch((err: Error) => {
      skip("pomerium-memory", err.message);
      return undefined;
    }),
    startTarget("pomerium-file", "file", fileStorage()).catch((err: Error) => {
      skip("pomerium-file", err.message);
      return undefined;
    }),
    (async () => {
      let cluster: PostgresCluster;
      try {
        cluster = await startPostgresCluster();
      } catch (err) {
        skip("pomerium-postgres", `no PostgreSQL cluster: ${(err as Error).message}`);
        return undefined;
      }
      try {
        return await startTarget("pomerium-postgres", "postgres", postgresStorage(cluster));
      } catch (err) {
        await cluster.stop();
        skip("pomerium-postgres", (err as Error).message);
        return undefined;
      }
    })(),
  ];
  const settled = await Promise.allSettled(attempts);
  const targets = settled.flatMap((r) => (r.status === "fulfilled" && r.value !== undefined ? [r.value] : []));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure !== undefined) {
    // Only REQUIRE_INTEROP=1 makes skip() throw: stop what did start, then fail the run.
    await Promise.all(targets.map((t) => t.close()));
    throw failure.reason;
  }
  return targets;
}
