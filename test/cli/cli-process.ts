/** Runs the CLI from source as a child process (tsx), the way a user runs `npm start`. */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

export const CLI_ARGS = ["--import", "tsx", "src/cli/main.ts"];

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...CLI_ARGS, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running CLI child whose output is collected as it comes. */
export interface RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

export function startCli(...args: string[]): RunningCli {
  const child = spawn(process.execPath, [...CLI_ARGS, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const watchers = new Set<() => void>();
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of watchers) w();
  });
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  // "close", not "exit": "exit" can come before the last output has been read from the pipes.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern);
          if (match === null) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve(match);
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`no ${String(pattern)} within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        watchers.add(check);
        check();
      });
    },
  };
}
