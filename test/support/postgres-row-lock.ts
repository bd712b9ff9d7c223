/**
 * A transaction of the test's own that holds row locks in a database of a throwaway cluster
 * (postgres-cluster.ts) until released: a writer that touches a locked row waits inside its own
 * transaction, after whatever it did before (e.g. taking a version from a sequence), and commits
 * only after the release. It runs in a psql session fed through stdin.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { findPostgresBinDir, type PostgresCluster } from "./postgres-cluster.js";

export interface RowLock {
  /** Commits the locking transaction and ends the session. Idempotent. */
  release(): Promise<void>;
}

const LOCKED_MARKER = "row-lock-held";

/**
 * Runs `lockingQuery` (a SELECT ... FOR UPDATE) in a new transaction and resolves once it holds
 * its locks; fails when the query does, or when it locked no row (nothing would wait on it).
 */
export async function holdRowLock(cluster: PostgresCluster, database: string, lockingQuery: string, timeoutMs = 10_000): Promise<RowLock> {
  const psql = spawn(
    join(findPostgresBinDir(), "psql"),
    ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(cluster.port), "-U", "postgres", "-d", database],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  psql.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  psql.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => psql.once("close", (code) => resolve(code)));

  // The count goes to stdout before the marker; psql stops at the first error (ON_ERROR_STOP).
  psql.stdin.write(`BEGIN;\nSELECT count(*) FROM (${lockingQuery}) AS locked;\n\\echo ${LOCKED_MARKER}\n`);
  const locked = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const check = () => {
      if (!stdout.includes(LOCKED_MARKER)) return;
      clearTimeout(timer);
      resolve(true);
    };
    psql.stdout.on("data", check);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(stdout.includes(LOCKED_MARKER));
    });
  });
  const rows = Number(stdout.split("\n")[0]);
  if (!locked || !(rows > 0)) {
    psql.kill("SIGKILL");
    await exited;
    throw new Error(`could not hold a row lock (${locked ? `${rows} rows locked` : "no answer"}): ${stderr.trim() || stdout.trim()}`);
  }

  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= (async () => {
        psql.stdin.end("COMMIT;\n");
        const code = await exited;
        if (code !== 0) throw new Error(`the row-lock session ended with code ${code}: ${stderr.trim()}`);
      })();
      return released;
    },
  };
}
