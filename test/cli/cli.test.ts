import { execFile } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const CLI = ["--import", "tsx", "src/cli/main.ts"];

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("databroker-cache CLI", () => {
  it("demo --once seeds users and sessions and prints the address and a per-type summary", async () => {
    const { code, stdout, stderr } = await cli("demo", "--once", "--users", "7", "--sessions", "42");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(stdout).toMatch(/server version: +[1-9]\d*/);
    // 7 users + 42 sessions, one version each: the latest record version is 49.
    expect(stdout).toMatch(/latest 49\b/);
    expect(stdout).toMatch(/type\.googleapis\.com\/session\.Session +42 records/);
    expect(stdout).toMatch(/type\.googleapis\.com\/user\.User +7 records/);
  });

  it("a bad flag value prints one line naming the flag and exits 2", async () => {
    const { code, stdout, stderr } = await cli("demo", "--sessions", "many");
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("--sessions must be a non-negative integer");
  });

  it("an unknown command exits 2 with one line", async () => {
    const { code, stderr } = await cli("frobnicate");
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`databroker-cache: unknown command "frobnicate"; run 'databroker-cache help'`);
  });

  it("serve with a malformed secret file says what to fix without echoing the secret", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-test-"));
    const file = join(dir, "secret");
    writeFileSync(file, "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0\n");
    const { code, stdout, stderr } = await cli("serve", "--shared-secret-file", file);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("contains whitespace");
    expect(stderr).not.toContain("c2VjcmV0");
  });
});
