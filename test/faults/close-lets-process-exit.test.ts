/**
 * Scenario 11: close() lets the process exit on its own within a few seconds, whatever the
 * cache was doing: live, stuck connecting into a silent partition, or backing off after a
 * wrong secret (a 30 s retry timer).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startTcpFaultProxy } from "../support/tcp-fault-proxy.js";
import { Cleanups, SECRET, session, startServer, writer } from "./fault-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ms from the "closed" line to the process's exit. */
  exitAfterCloseMs: number | undefined;
}

function runChild(env: Record<string, string>): Promise<Exit> {
  const script = fileURLToPath(new URL("./fixtures/close-then-exit.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  let closedAt: number | undefined;
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    if (closedAt === undefined && stdout.includes("closed")) closedAt = performance.now();
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, exitAfterCloseMs: closedAt === undefined ? undefined : performance.now() - closedAt });
    });
  });
}

/**
 * The child exits on its own, soon after printing its "closed" line. "Soon" is 3 s: it holds on a
 * 2-core machine with other tests running, where the exit takes well under a second; a timer,
 * socket or HTTP/2 session left open after close() keeps the child alive until it is killed at
 * 20 s (and a 30 s backoff timer longer still).
 */
function expectPromptExit(exit: Exit, closedLine: string): void {
  expect(exit.stderr).toBe("");
  expect(exit.stdout.trim().split("\n").pop()).toBe(closedLine);
  expect(exit.code).toBe(0);
  console.log(`measure close-lets-process-exit ${closedLine} exitAfterCloseMs=${exit.exitAfterCloseMs?.toFixed(0)}`);
  expect(exit.exitAfterCloseMs, "ms from the child's closed line to its exit (expected under 3000)").toBeLessThan(3000);
}

describe("close() lets the process exit", () => {
  it("after the cache was live", { timeout: 40_000 }, async () => {
    const server = await startServer(cleanups);
    await writer(server.url).put({ records: [session("s1", "u1")] });
    const exit = await runChild({ DATABROKER_URL: server.url, DATABROKER_SECRET: SECRET, WAIT_READY: "1", CLOSE_AFTER_MS: "200" });
    expectPromptExit(exit, "closed ready");
  });

  it("while stuck connecting into a silent partition", { timeout: 40_000 }, async () => {
    const server = await startServer(cleanups);
    const proxy = await startTcpFaultProxy(server.port);
    cleanups.add(() => proxy.close());
    proxy.blackhole();
    const exit = await runChild({ DATABROKER_URL: proxy.url, DATABROKER_SECRET: SECRET, CLOSE_AFTER_MS: "1000" });
    expect(proxy.connectionsAccepted).toBeGreaterThan(0);
    expectPromptExit(exit, "closed not-ready");
  });

  it("while backing off after a wrong shared secret", { timeout: 40_000 }, async () => {
    const server = await startServer(cleanups);
    const exit = await runChild({ DATABROKER_URL: server.url, DATABROKER_SECRET: randomBytes(32).toString("base64"), CLOSE_AFTER_MS: "1000" });
    expectPromptExit(exit, "closed not-ready");
  });
});
