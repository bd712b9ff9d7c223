/**
 * A throwaway PostgreSQL cluster owned by the test run: initdb into a temp dir, trust auth,
 * listening on 127.0.0.1 on a free port with its unix socket in the temp dir, removed on stop.
 *
 * initdb refuses to run as root, so as root every server command runs as the `postgres` user
 * (created by Debian's postgresql package, or by .ci/interop-setup.sh) through runuser.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Raised when this machine cannot run a cluster (no binaries, no postgres user). */
export class PostgresUnavailableError extends Error {
  override readonly name = "PostgresUnavailableError";
}

export interface PostgresCluster {
  readonly port: number;
  /** Temp dir holding data/, the socket and the server log. */
  readonly dir: string;
  /** pgx/libpq URL for a database in this cluster (superuser `postgres`, no password). */
  dsn(database: string): string;
  createDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
  /** Runs one SQL statement in `database` and returns psql's unaligned output. */
  sql(database: string, statement: string): Promise<string>;
  /** The server log, for failure messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Finds the newest installed server binaries (PG_BIN overrides). */
export function findPostgresBinDir(): string {
  const fromEnv = process.env["PG_BIN"];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!existsSync(join(fromEnv, "initdb"))) throw new PostgresUnavailableError(`PG_BIN=${fromEnv} holds no initdb`);
    return fromEnv;
  }
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new PostgresUnavailableError("no PostgreSQL server binaries under /usr/lib/postgresql (run .ci/interop-setup.sh)");
  }
  return join(base, newest, "bin");
}

/** A port that was free a moment ago (the server binds it right after). */
export async function freeLoopbackPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const isRoot = () => userInfo().uid === 0;

/** Clusters still running, stopped synchronously if the test process exits without stop(). */
const running = new Map<string, () => void>();
process.once("exit", () => {
  for (const stopNow of running.values()) stopNow();
});

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  try {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: g } = await run("id", ["-g", "postgres"]);
    return { uid: Number(stdout.trim()), gid: Number(g.trim()) };
  } catch {
    throw new PostgresUnavailableError("running as root but there is no `postgres` user for initdb (run .ci/interop-setup.sh)");
  }
}

/** Runs a server binary, as the postgres user when we are root. */
async function asServerUser(bin: string, args: string[]): Promise<string> {
  const [file, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
  try {
    const { stdout } = await run(file, argv, { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${bin.split("/").pop()} failed: ${e.stderr?.trim() || e.message}`);
  }
}

export interface PostgresClusterOptions {
  /** Picks the port to try; tests inject one that is taken. Default: a currently free port. */
  readonly pickPort?: () => Promise<number>;
}

export async function startPostgresCluster(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const pickPort = options.pickPort ?? freeLoopbackPort;
  const binDir = findPostgresBinDir();
  const ids = isRoot() ? await postgresIds() : undefined;
  const dir = await mkdtemp(join(tmpdir(), "pg-test-"));
  if (ids !== undefined) {
    await chown(dir, ids.uid, ids.gid);
    await chmod(dir, 0o700);
  }
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  let port = 0;
  const bin = (name: string) => join(binDir, name);

  try {
    await asServerUser(bin("initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"]);
    // The port is free when picked, but a test running in parallel can bind it before the server
    // does: then pick another (a few times).
    for (let attempt = 1; ; attempt++) {
      port = await pickPort();
      const serverOptions = [
        `-p ${port}`,
        `-k ${dir}`,
        "-c listen_addresses=127.0.0.1",
        // Throwaway data: durability costs time and buys nothing here.
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=200",
      ].join(" ");
      try {
        await asServerUser(bin("pg_ctl"), ["-D", data, "-l", logFile, "-o", serverOptions, "-w", "-t", "60", "start"]);
        break;
      } catch (err) {
        const log = await readFile(logFile, "utf8").catch(() => "");
        if (attempt >= 5 || !log.includes("Address already in use")) throw err;
        await rm(logFile, { force: true });
      }
    }
  } catch (err) {
    const log = await readFile(logFile, "utf8").catch(() => "");
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start a throwaway PostgreSQL cluster: ${(err as Error).message}\n${log.slice(-2000)}`);
  }

  const psql = async (database: string, statement: string) => {
    try {
      const { stdout } = await run(bin("psql"), [
        "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
        "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", database, "-c", statement,
      ]);
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`psql: ${e.stderr?.trim() || e.message}`);
    }
  };

  const pgCtlArgs = (...args: string[]) => (isRoot() ? ["runuser", ["-u", "postgres", "--", bin("pg_ctl"), ...args]] : [bin("pg_ctl"), args]) as [string, string[]];
  running.set(dir, () => {
    try {
      execFileSync(...pgCtlArgs("-D", data, "-m", "immediate", "-w", "stop"), { stdio: "ignore" });
      execFileSync("rm", ["-rf", dir], { stdio: "ignore" });
    } catch {
      // best effort at exit
    }
  });

  let stopped = false;
  return {
    port,
    dir,
    dsn: (database) => `postgres://postgres@127.0.0.1:${port}/${database}?sslmode=disable`,
    createDatabase: async (name) => {
      await psql("postgres", `CREATE DATABASE "${name}"`);
    },
    dropDatabase: async (name) => {
      await psql("postgres", `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
    sql: psql,
    log: () => readFile(logFile, "utf8").catch(() => ""),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      running.delete(dir);
      try {
        await asServerUser(bin("pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
