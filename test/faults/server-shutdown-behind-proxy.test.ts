/**
 * A databroker shutting down gracefully behind a TCP proxy (as behind Envoy) must not wedge the
 * cache's process (Node 20.13+ HTTP/2 RST_STREAM write loop at 100% CPU, nodejs/node#52952).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

describe("a databroker shutting down behind a proxy", () => {
  it("leaves the cache's process responsive: it finishes and exits on its own", { timeout: 40_000 }, async () => {
    const script = fileURLToPath(new URL("./fixtures/shutdown-behind-proxy.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let killed = false;
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, 20_000);
      child.on("exit", (c) => {
        clearTimeout(killer);
        resolve(c);
      });
    });
    const report = `${killed ? "WEDGED, killed after 20 s" : `exit ${code}`}\n${stdout}\n${stderr.slice(-2000)}`;
    expect(killed, report).toBe(false);
    expect(stdout, report).toBe("ready\nserver gone\ndone\n");
    expect(code, report).toBe(0);
  });
});
