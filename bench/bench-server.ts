/**
 * The one server process a benchmark run talks to: Pomerium's own databroker (memory storage,
 * through the interop harness) when its binary is available, else our in-memory databroker in a
 * child process.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startPomerium, type PomeriumInstance } from "../test/support/pomerium-harness.js";
import { SECRET_ENV } from "./bench-secret.js";

export type BenchServerKind = "pomerium" | "in-memory";

export interface BenchServer {
  readonly kind: BenchServerKind;
  /** h2c URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Human-readable description for the report. */
  readonly description: string;
  /** The Pomerium peer itself (its admin channel: assertions, JWKS), when kind is "pomerium". */
  readonly pomerium?: PomeriumInstance;
  stop(): Promise<void>;
}

const POMERIUM_BINARY = fileURLToPath(new URL("../.interop-cache/pomerium-databroker", import.meta.url));
const SERVER_SCRIPT = fileURLToPath(new URL("./in-memory-server-process.ts", import.meta.url));

export function pomeriumBinaryPresent(): boolean {
  return existsSync(POMERIUM_BINARY) || (process.env["POMERIUM_DATABROKER_BIN"] ?? "") !== "";
}

export async function startBenchServer(kind: BenchServerKind, sharedSecret: string): Promise<BenchServer> {
  if (kind === "pomerium") {
    const p = await startPomerium({ storage: "memory", sharedSecret, name: "bench" });
    return { kind, url: p.url, description: `Pomerium ${p.pomeriumVersion} databroker, memory storage (interop/pomerium)`, pomerium: p, stop: () => p.stop() };
  }
  const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_NODE_ARGS?.split(" ").filter(Boolean) ?? []), "--import", "tsx", SERVER_SCRIPT], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, [SECRET_ENV]: sharedSecret },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let pending = "";
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const m = /^READY (\S+)$/m.exec(pending);
      if (m !== null) resolve(m[1] as string);
    });
    child.once("exit", (code) => reject(new Error(`in-memory server exited before ready (code ${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    kind,
    url,
    description: "our in-memory databroker (src/server), child process",
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
