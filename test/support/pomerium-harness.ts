/**
 * Starts Pomerium's own databroker (the Go peer in interop/pomerium) for tests.
 *
 * The binary is built once into .interop-cache/ by .ci/interop-build.sh and rebuilt only when
 * interop/pomerium changes. Each instance listens on loopback (h2c gRPC plus an admin HTTP port),
 * reads the shared secret from a 0600 file (never from argv or logs), and writes its output to a
 * log file under .interop-cache/logs/ that outlives the run, for diagnosing failures.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, type WriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CACHE_DIR = join(REPO_ROOT, ".interop-cache");
const BUILD_SCRIPT = join(REPO_ROOT, ".ci", "interop-build.sh");
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 8_000;
const LOG_TAIL_BYTES = 16 * 1024;
const KEPT_LOG_RUNS = 10;

export type PomeriumStorage = "memory" | "file" | "postgres";

/** Raised when the peer cannot be built or run on this machine (no Go toolchain, build failure). */
export class PomeriumUnavailableError extends Error {
  override readonly name = "PomeriumUnavailableError";
}

export interface PomeriumStartOptions {
  readonly storage: PomeriumStorage;
  /** file: a directory (or file:///dir); postgres: a pgx DSN. Unused for memory. */
  readonly dsn?: string;
  /** base64 of 32 bytes. */
  readonly sharedSecret: string;
  /** Fixed gRPC port (to restart on the same url); ephemeral when omitted. */
  readonly port?: number;
  /** Label used in log file names. */
  readonly name?: string;
  /** More flags for the peer (the cluster settings: see pomerium-cluster.ts). */
  readonly extraArgs?: readonly string[];
  /**
   * Identity assertion signing key(s) in the form of Pomerium's `signing_key` (base64 of one or
   * more PEM private keys: the first signs, all are published). Written to a 0600 file like the
   * shared secret. When omitted the peer generates a P-256 key.
   */
  readonly signingKey?: string;
}

/** What POST /assertion on the admin port asks for. */
export interface AssertionRequest {
  /** The session (or service account) id the request carries; it must live in the peer's databroker. */
  readonly sessionId: string;
  /** The route's host name: `aud`, and `iss` unless `issuerFormat` is "uri". */
  readonly host: string;
  /** Pomerium's `jwt_issuer_format`: "hostOnly" (default) or "uri" (`https://host/`). */
  readonly issuerFormat?: "hostOnly" | "uri";
}

/** Raised by mintAssertion when the session is not live in the peer's databroker (HTTP 404). */
export class NoLiveSessionError extends Error {
  override readonly name = "NoLiveSessionError";
}

export interface PomeriumInstance {
  readonly name: string;
  readonly storage: PomeriumStorage;
  /** h2c base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  /** Admin side channel (test only): POST /compact, GET /healthz, the assertion issuer's routes. */
  readonly adminUrl: string;
  /** The public signing keys, served as Pomerium serves `/.well-known/pomerium/jwks.json`. */
  readonly jwksUrl: string;
  /** Server version reported by ServerInfo when the instance became ready. */
  readonly serverVersion: bigint;
  /** Pomerium module version the peer was built from. */
  readonly pomeriumVersion: string;
  readonly logPath: string;
  /** The process id (to read its CPU time in benchmarks). */
  readonly pid: number | undefined;
  /** The last lines the process wrote (stdout and stderr). */
  logTail(): string;
  /** Drops every change except the newest, as Pomerium's cleaner does after the retention. */
  compact(): Promise<void>;
  /**
   * An `X-Pomerium-Jwt-Assertion` for a session that lives in this peer's databroker, with the
   * claims Pomerium's headers evaluator derives from the stored session and user, signed with
   * the peer's current signing key by Pomerium's key loading (interop/pomerium/assertion_issuer.go).
   * Rejects with NoLiveSessionError when the session is absent or expired.
   */
  mintAssertion(request: AssertionRequest): Promise<{ assertion: string; kid: string }>;
  /**
   * A new signing key signs from now on; the `retain` newest previous keys stay published
   * (default 1; 0 removes the old keys from the JWKS at once). Resolves to the new kid and the
   * published kids, signing key first.
   */
  rotateSigningKey(options?: { retain?: number }): Promise<{ kid: string; published: string[] }>;
  /** SIGTERM, then SIGKILL after a grace period. Idempotent. */
  stop(): Promise<void>;
  /**
   * SIGKILL at once, no grace: a crash (the kernel resets its connections, nothing is flushed).
   * Resolves once the process is gone. Idempotent; stop() afterwards does nothing.
   */
  kill(): Promise<void>;
}

let binaryPromise: Promise<string> | undefined;

/** Builds the peer if its sources changed (cached across runs) and returns the binary path. */
export function ensurePomeriumBinary(): Promise<string> {
  binaryPromise ??= buildBinary();
  return binaryPromise;
}

async function buildBinary(): Promise<string> {
  const override = process.env["POMERIUM_DATABROKER_BIN"];
  if (override !== undefined && override !== "") {
    if (!existsSync(override)) throw new PomeriumUnavailableError(`POMERIUM_DATABROKER_BIN=${override} does not exist`);
    return override;
  }
  try {
    const { stdout } = await promisify(execFile)("bash", [BUILD_SCRIPT], {
      cwd: REPO_ROOT,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 30 * 60_000,
    });
    const path = stdout.trim().split("\n").pop() ?? "";
    if (!existsSync(path)) throw new Error(`build script printed no binary path (got "${path}")`);
    return path;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new PomeriumUnavailableError(
      `cannot build the Pomerium databroker peer (.ci/interop-build.sh): ${(e.stderr ?? "").trim().slice(-2000) || e.message}`,
    );
  }
}

let runLogDirPromise: Promise<string> | undefined;

/** One log directory per test process; older runs beyond the newest few are pruned. */
function runLogDir(): Promise<string> {
  runLogDirPromise ??= (async () => {
    const logs = join(CACHE_DIR, "logs");
    await mkdir(logs, { recursive: true });
    const runs = (await readdir(logs)).filter((d) => d.startsWith("run-")).sort();
    for (const old of runs.slice(0, Math.max(0, runs.length - KEPT_LOG_RUNS))) {
      await rm(join(logs, old), { recursive: true, force: true });
    }
    const dir = join(logs, `run-${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}`);
    await mkdir(dir, { recursive: true });
    return dir;
  })();
  return runLogDirPromise;
}

let instanceCounter = 0;

interface ReadyLine {
  addr: string;
  admin: string;
  serverVersion: bigint;
  pomeriumVersion: string;
}

function parseReadyLine(line: string): ReadyLine | undefined {
  if (!line.startsWith("READY ")) return undefined;
  const fields = new Map(
    line
      .slice(6)
      .trim()
      .split(/\s+/)
      .map((kv) => {
        const i = kv.indexOf("=");
        return [kv.slice(0, i), kv.slice(i + 1)] as const;
      }),
  );
  const addr = fields.get("addr");
  const admin = fields.get("admin");
  const sv = fields.get("server_version");
  if (addr === undefined || admin === undefined || sv === undefined) return undefined;
  return { addr, admin, serverVersion: BigInt(sv), pomeriumVersion: fields.get("pomerium_version") ?? "unknown" };
}

/** Starts one instance and waits until it answered its own authenticated ServerInfo. */
export async function startPomerium(options: PomeriumStartOptions): Promise<PomeriumInstance> {
  const binary = await ensurePomeriumBinary();
  const name = `${options.name ?? `pomerium-${options.storage}`}-${++instanceCounter}`;
  const logPath = join(await runLogDir(), `${name}.log`);
  const secretDir = await mkdtemp(join(tmpdir(), "pomerium-secret-"));
  const secretFile = join(secretDir, "shared-secret");
  // Raw contents, no trailing newline: Pomerium rejects whitespace around the secret.
  await writeFile(secretFile, options.sharedSecret, { mode: 0o600 });

  const args = [
    "-storage", options.storage,
    "-shared-secret-file", secretFile,
    "-port", String(options.port ?? 0),
    "-exit-on-stdin-eof",
  ];
  if (options.dsn !== undefined) args.push("-dsn", options.dsn);
  if (options.signingKey !== undefined) {
    const keyFile = join(secretDir, "signing-key");
    await writeFile(keyFile, options.signingKey, { mode: 0o600 });
    args.push("-signing-key-file", keyFile);
  }
  if (options.extraArgs !== undefined) args.push(...options.extraArgs);

  // A just-freed fixed port can still be held by the previous process for a moment.
  for (let attempt = 1; ; attempt++) {
    try {
      const instance = await launchPeerProcess(binary, args, name, options.storage, logPath);
      // The peer reads the file once at start-up; ready means it is no longer needed.
      await rm(secretDir, { recursive: true, force: true });
      return instance;
    } catch (err) {
      if (attempt < 5 && options.port !== undefined && /address already in use/.test((err as Error).message)) {
        await new Promise((r) => setTimeout(r, 200 * attempt));
        continue;
      }
      await rm(secretDir, { recursive: true, force: true });
      throw err;
    }
  }
}

/** Starts n instances with the same options (each on its own ephemeral port). */
export async function startPomeriumInstances(n: number, options: Omit<PomeriumStartOptions, "port">): Promise<PomeriumInstance[]> {
  const started = await Promise.allSettled(Array.from({ length: n }, () => startPomerium(options)));
  const ok = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(ok.map((i) => i.stop()));
    throw failed.reason;
  }
  return ok;
}

/**
 * Spawns `binary`, copies its stdout and stderr to `logPath` and waits for its READY line.
 * Exported for the harness's own tests, which launch stand-in processes through it.
 */
export async function launchPeerProcess(
  binary: string,
  args: string[],
  name: string,
  storage: PomeriumStorage,
  logPath: string,
): Promise<PomeriumInstance> {
  const log: WriteStream = createWriteStream(logPath, { flags: "a" });
  log.write(`# ${new Date().toISOString()} ${binary} ${args.join(" ")}\n`);
  const child: ChildProcess = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
  let tail = "";
  const record = (chunk: Buffer) => {
    // Output can still arrive after the log is closed if a pipe outlives the
    // process (a grandchild holding it); it then only feeds the in-memory tail.
    if (!log.writableEnded) log.write(chunk);
    tail = (tail + chunk.toString("utf8")).slice(-LOG_TAIL_BYTES);
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  let stopping = false;
  // "exit" can come before the last stdout/stderr chunks are read; "close" comes
  // after the process has exited and its pipes have ended, so the log ends there.
  child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
    log.write(`# exited code=${code} signal=${signal}${stopping ? "" : " (unexpected)"}\n`);
    log.end();
  });

  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    let pending = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} not ready after ${READY_TIMEOUT_MS} ms (log: ${logPath})\n${tail.slice(-3000)}`));
    }, READY_TIMEOUT_MS);
    child.stderr?.on("data", record);
    child.stdout?.on("data", (chunk: Buffer) => {
      record(chunk);
      pending += chunk.toString("utf8");
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const parsed = parseReadyLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        if (parsed !== undefined) {
          clearTimeout(timer);
          resolve(parsed);
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before ready (code=${code} signal=${signal}, log: ${logPath})\n${tail.slice(-3000)}`));
    });
  });

  const port = Number(ready.addr.split(":").pop());
  const adminUrl = `http://${ready.admin}`;
  let stopPromise: Promise<void> | undefined;
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    storage,
    url: `http://${ready.addr}`,
    port,
    adminUrl,
    jwksUrl: `${adminUrl}/.well-known/pomerium/jwks.json`,
    serverVersion: ready.serverVersion,
    pomeriumVersion: ready.pomeriumVersion,
    logPath,
    pid: child.pid,
    logTail: () => tail,
    async compact() {
      const res = await fetch(`${adminUrl}/compact`, { method: "POST" });
      if (!res.ok) throw new Error(`${name} compact failed: HTTP ${res.status} ${await res.text()}`);
    },
    async mintAssertion(request) {
      const res = await fetch(`${adminUrl}/assertion`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ session_id: request.sessionId, host: request.host, issuer_format: request.issuerFormat ?? "" }),
      });
      if (res.status === 404) throw new NoLiveSessionError(`${name}: ${(await res.text()).trim()}`);
      if (!res.ok) throw new Error(`${name} assertion failed: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as { assertion: string; kid: string };
    },
    async rotateSigningKey(rotation = {}) {
      const res = await fetch(`${adminUrl}/rotate-signing-key?retain=${rotation.retain ?? 1}`, { method: "POST" });
      if (!res.ok) throw new Error(`${name} key rotation failed: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as { kid: string; published: string[] };
    },
    stop() {
      stopPromise ??= (async () => {
        stopping = true;
        if (running()) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
          await exited;
          clearTimeout(timer);
        }
      })();
      return stopPromise;
    },
    kill() {
      stopPromise ??= (async () => {
        stopping = true;
        if (running()) {
          child.kill("SIGKILL");
          await exited;
        }
      })();
      return stopPromise;
    },
  };
}
