/**
 * Runs one scenario (test/faults/scenarios/<name>.ts) in a child process with a deadline.
 *
 * Why a child: a fault can wedge the whole process (Node's HTTP/2 has been seen spinning in
 * Http2Stream::RstStream with memory growing, nodejs/node#52952). In-process, that
 * blocks vitest's own timeouts and the run hangs; in a child, the deadline kills it and the test
 * fails with what the scenario printed so far.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface ScenarioResult {
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** A readable summary for assertion messages. */
  readonly report: string;
}

const RUNNER = fileURLToPath(new URL("./fixtures/run-scenario.ts", import.meta.url));

export function runScenario(name: string, timeoutMs = 20_000, env: Record<string, string> = {}): Promise<ScenarioResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", RUNNER, name], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      const text = d.toString();
      stdout += text;
      // Heal times go to the lead's console as the scenario prints them.
      for (const line of text.split("\n")) if (line.startsWith("heal-time ") || line.startsWith("measure ") || line.startsWith("!!! ")) console.log(line);
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const killer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    // "close", not "exit": "exit" can come before the last output has been read from the pipes.
    child.on("close", (code) => {
      clearTimeout(killer);
      const report = `scenario ${name}: ${timedOut ? `HUNG, killed after ${timeoutMs} ms` : `exit code ${code}`}\n--- stdout\n${stdout.slice(-4000)}\n--- stderr\n${stderr.slice(-4000)}`;
      resolve({ code, timedOut, stdout, stderr, report });
    });
  });
}
