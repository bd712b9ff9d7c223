import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { launchPeerProcess } from "./pomerium-harness.js";
import { untilAsync } from "./wait-until.js";

/**
 * A stand-in peer: prints a READY line, then idles. On SIGTERM it leaves a background
 * process behind that still holds its stdout and writes one more line after the shell has
 * exited, which is how output can reach the harness after the process's "exit" event.
 */
const STAND_IN = [
  "trap '(sleep 0.3; echo late-output-after-exit) & exit 0' TERM",
  "echo READY addr=127.0.0.1:1 admin=127.0.0.1:2 server_version=7",
  "while :; do sleep 1 & wait $!; done",
].join("\n");

describe("the peer harness's log", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("keeps output that arrives after the process exited, and ends the log only after it", async () => {
    dir = await mkdtemp(join(tmpdir(), "harness-log-"));
    const logPath = join(dir, "peer.log");
    const peer = await launchPeerProcess("/bin/sh", ["-c", STAND_IN], "stand-in", "memory", logPath);
    expect(peer.serverVersion).toBe(7n);

    await peer.stop();
    const exitLine = /^# exited code=0 signal=null$/m;
    await untilAsync(async () => exitLine.test(await readFile(logPath, "utf8")), "the log's exit line", 10_000);

    const log = await readFile(logPath, "utf8");
    const late = log.indexOf("late-output-after-exit");
    expect(late, log).toBeGreaterThan(0);
    expect(late).toBeLessThan(log.search(exitLine));
    expect(peer.logTail()).toContain("late-output-after-exit");
  });
});
