/**
 * Runs a benchmark child process and returns its result: the last stdout line that parses as a
 * JSON object with the expected key. Other stdout lines are progress signals (e.g. PROP-READY),
 * handed to onLine; Pomerium's logger also writes JSON lines to stdout, which the key filters out.
 */
import { spawn } from "node:child_process";

export interface ChildRun {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** The result object is the last JSON line that has this key. */
  readonly resultKey: string;
  readonly onLine?: (line: string) => void;
}

export async function runChildForJson<T>(run: ChildRun): Promise<T> {
  const child = spawn(run.command, [...run.args], { stdio: ["ignore", "pipe", "pipe"], env: run.env });
  let pending = "";
  let result: T | undefined;
  let errTail = "";
  child.stdout.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith("{")) {
        try {
          const parsed = JSON.parse(line) as { [key: string]: unknown };
          if (run.resultKey in parsed) result = parsed as T;
        } catch {
          // Not ours (a partial log line): ignore.
        }
      } else run.onLine?.(line);
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    errTail = (errTail + chunk.toString("utf8")).slice(-6000);
  });
  // "close", not "exit": "exit" can come before the last output has been read from the pipes.
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  if (code !== 0 || result === undefined) {
    throw new Error(`${run.args.find((a) => a.endsWith(".ts")) ?? run.command} exited with ${code}${result === undefined ? " and no result" : ""}: ${errTail.slice(-3000)}`);
  }
  return result;
}
