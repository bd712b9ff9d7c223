/** close() ends every stream, timer and socket: a process that closed its cache exits by itself. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanups, SECRET, session, startServer, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

function runChild(script: string, env: Record<string, string>, args: string[] = [], killAfterMs = 20_000) {
  const child = spawn(process.execPath, [...args, "--import", "tsx", fileURLToPath(new URL(script, import.meta.url))], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "";
  let stderr = "";
  const marks = new Map<string, number>();
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    for (const line of stdout.split("\n")) if (line !== "" && !marks.has(line)) marks.set(line, Date.now());
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => {
    const killer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, at: Date.now() });
    });
  });
  return { exited, output: () => ({ stdout, stderr }), marks };
}

describe("closing the cache", () => {
  it("leaves nothing behind: the process exits on its own right after close()", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1")] });
    const child = runChild("./fixtures/cache-then-close.ts", { DATABROKER_URL: server.url, DATABROKER_SECRET: SECRET, WAIT_FOR_VERSION: "2", SERVER_VERSION: String(server.serverVersion) });
    const started = Date.now();
    while (!child.output().stdout.includes("ready")) {
      if (Date.now() - started > 20_000) throw new Error(`child never became ready: ${child.output().stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await db.put({ records: [session("s2", "u1")] }); // version 2: a live change over the Sync stream
    const exit = await child.exited;
    expect(child.output().stderr).toBe("");
    expect(child.output().stdout).toBe("ready\nclosed rejected\n");
    expect(exit.code).toBe(0);
    // Holds on a 2-core machine with other tests running, where the exit follows within tens of
    // milliseconds; a handle close() left open would keep the child alive until its 20 s kill.
    const exitAfterCloseMs = exit.at - child.marks.get("closed rejected")!;
    console.log(`measure close-leaves-nothing exitAfterCloseMs=${exitAfterCloseMs}`);
    expect(exitAfterCloseMs, "ms from the child's closed line to its exit (expected under 2000)").toBeLessThan(2000);
  });
});

describe("creating and closing caches repeatedly", () => {
  it("200 create/ready/close cycles leave no cache, loop or HTTP/2 session alive and no handle open", { timeout: 120_000 }, async () => {
    const server = await startServer(cleanups);
    await writer(server.url).put({ records: [session("s1", "u1")] });
    const child = runChild("./fixtures/create-close-cycles.ts", { DATABROKER_URL: server.url, DATABROKER_SECRET: SECRET, CYCLES: "200" }, ["--expose-gc"], 110_000);
    const exit = await child.exited;
    expect(child.output().stderr).toBe("");
    expect(exit.code).toBe(0);
    const report = JSON.parse(child.output().stdout) as {
      before: string[];
      resourcesAfterWarmup: string[];
      resourcesAtEnd: string[];
      heapAfterWarmup: number;
      heapAtEnd: number;
      notCollected: number;
      live: Record<string, number>;
    };
    expect(report.resourcesAfterWarmup).toEqual(report.before);
    expect(report.resourcesAtEnd).toEqual(report.before);
    // Every closed cache became collectable (waited for by finalization, up to a deadline: on a
    // loaded machine the last caches' streams and sockets may still be closing when close()
    // resolved), and nothing of one is left.
    expect(report.notCollected, "closed caches never collected").toBe(0);
    expect(report.live).toMatchObject({ DatabrokerCacheImpl: 0, Replica: 0, SyncLoop: 0, ChangeHub: 0 });
    console.log(
      `measure close-leaves-nothing cycles=200 liveClientHttp2Session=${report.live.ClientHttp2Session} heapGrowthKB=${Math.round((report.heapAtEnd - report.heapAfterWarmup) / 1024)}`,
    );
    // A session whose cancelled stream closed after the close grace stays pinned by
    // connect-node's unref'd timers (see CLOSE_STREAMS_TIMEOUT_MS); a systematic leak would show
    // ~150. How many miss the grace depends on load: 5 holds on a 2-core machine with other
    // tests running.
    expect(report.live.ClientHttp2Session, "HTTP/2 sessions still alive after 200 cycles (expected at most 5)").toBeLessThanOrEqual(5);
    // The rest of the heap: V8 code caches grow a little (~4 KB per cycle measured); a cache
    // held per cycle (replica, subjects, sockets: tens of KB) would exceed this. Measured after
    // full collections (--expose-gc), so it does not depend on load.
    expect(report.heapAtEnd - report.heapAfterWarmup, "heap growth in bytes over 200 cycles after full GCs (expected under 3 MiB)").toBeLessThan(
      3 * 1024 * 1024,
    );
  });
});
