/**
 * Closing the cache while every type's Sync stream is open and waiting on the server: the server
 * sees each stream end, and the process that closed it exits by itself (no timer, stream or
 * socket left), on each transport.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_CACHE_TYPES } from "../../src/index.js";
import { startCountingDatabroker } from "../faults/counting-databroker.js";
import { until } from "../support/wait-until.js";
import { Cleanups, SECRET, TRANSPORTS } from "./cache-sync-fixtures.js";

const fixture = fileURLToPath(new URL("./fixtures/sync-then-close.ts", import.meta.url));
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe.each(TRANSPORTS)("closing a syncing cache over %s", (transport) => {
  it("ends every stream on the server and leaves nothing behind: the process exits by itself", async () => {
    const server = await startCountingDatabroker(SECRET);
    cleanups.add(() => server.close());
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, DATABROKER_URL: server.url, DATABROKER_SECRET: SECRET, DATABROKER_TRANSPORT: transport },
    });
    let stdout = "";
    let stderr = "";
    let closedAt = 0;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (closedAt === 0 && stdout.includes("closed")) closedAt = Date.now();
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<{ code: number | null; at: number }>((resolve) => {
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.on("exit", (code) => {
        clearTimeout(killer);
        resolve({ code, at: Date.now() });
      });
    });
    await until(() => stdout.includes("live") || child.exitCode !== null, "the child's cache live", 15_000);
    await until(() => server.openStreams === DEFAULT_CACHE_TYPES.length, "every Sync stream running on the server");
    child.stdin.end();
    const exited = await exit;
    expect(stderr).toBe("");
    expect(stdout).toBe("live\nclosed\n");
    expect(exited.code).toBe(0);
    expect(exited.at - closedAt).toBeLessThan(2000);
    await until(() => server.openStreams === 0, "no stream left on the server", 2000);
    expect(server.calls.filter((c) => c.method === "Sync").map((c) => c.outcome)).toEqual(DEFAULT_CACHE_TYPES.map(() => "Canceled"));
  });
});
