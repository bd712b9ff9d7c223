import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";

const fixture = fileURLToPath(new URL("./fixtures/sync-then-close.ts", import.meta.url));
const secret = randomBytes(32).toString("base64");
let server: RunningInMemoryDatabroker;

beforeAll(async () => {
  server = await startInMemoryDatabroker({ sharedSecret: secret });
});
afterAll(async () => {
  await server.close();
});

describe("closing the sync loop", () => {
  it("leaves no timer, stream or socket behind: a process that closed it exits by itself", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DATABROKER_URL: server.url, DATABROKER_SECRET: secret },
    });
    let stdout = "";
    let stderr = "";
    let closedAt = 0;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (closedAt === 0 && stdout.includes("closed")) closedAt = Date.now();
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exit = await new Promise<{ code: number | null; at: number }>((resolve) => {
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.on("exit", (code) => {
        clearTimeout(killer);
        resolve({ code, at: Date.now() });
      });
    });
    expect(stderr).toBe("");
    expect(stdout).toBe("live\nclosed\n");
    expect(exit.code).toBe(0);
    expect(exit.at - closedAt).toBeLessThan(2000);
  });
});
