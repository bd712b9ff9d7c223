/**
 * The path always holds a whole snapshot: a writer process killed with SIGKILL at any point of
 * its write leaves the previous snapshot loadable (or its own, once renamed), and two processes
 * writing one path never leave, nor show a reader, a corrupt file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnapshotWriteAbandonedError, writeSnapshotFile } from "../../src/snapshot-file/snapshot-writer.js";
import { IDENTITY, readBack, syntheticContent } from "./snapshot-fixtures.js";

const KEY = new Uint8Array(32).fill(9);
const RECORDS = 300;
const SIZE = 2_000;
let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "snapshot-crash-"));
});
afterAll(() => rm(folder, { recursive: true, force: true }));

function writerProcess(path: string, first: number, writes: number): { child: ChildProcess; lines: string[]; exited: Promise<void> } {
  const script = fileURLToPath(new URL("./fixtures/write-snapshots.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, path, String(first), String(writes), String(RECORDS), String(SIZE)], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  let rest = "";
  child.stdout!.on("data", (data: Buffer) => {
    const parts = (rest + data.toString()).split("\n");
    rest = parts.pop() ?? "";
    lines.push(...parts);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { child, lines, exited };
}

describe("snapshot writes and crashes", () => {
  it("an aborted write is abandoned at its next slice: no temporary file is left and the previous snapshot stays", async () => {
    const path = join(folder, "aborted.bin");
    await writeSnapshotFile(syntheticContent(1, RECORDS, SIZE), { path, key: KEY, identity: IDENTITY });
    const abort = new AbortController();
    let pulledAfterAbort = 0;
    const content = syntheticContent(2, RECORDS * 10, SIZE, (i) => {
      if (i === 20) abort.abort();
      if (abort.signal.aborted) pulledAfterAbort++;
    });
    await expect(writeSnapshotFile(content, { path, key: KEY, identity: IDENTITY, signal: abort.signal, sliceMs: 1 })).rejects.toBeInstanceOf(SnapshotWriteAbandonedError);
    // Within one slice of the abort: far fewer records than the write held.
    expect(pulledAfterAbort).toBeLessThan(RECORDS * 5);
    expect(await readdir(folder)).not.toContainEqual(expect.stringMatching(/^\.aborted\.bin\..*\.tmp$/));
    expect((await readBack(path, KEY)).generation).toBe(1n);
  });

  it("a writer killed with SIGKILL at any point leaves a whole snapshot: the previous one, or its own once complete", { timeout: 60_000 }, async () => {
    const path = join(folder, "killed.bin");
    await writeSnapshotFile(syntheticContent(1, RECORDS, SIZE), { path, key: KEY, identity: IDENTITY });
    let previous = 1n;
    let generation = 2;
    // Kill points: after record k of the write (k a multiple of 50), or once it reports written.
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: RECORDS / 50 }), async (step) => {
        const g = generation++;
        const marker = step * 50 >= RECORDS ? `written ${g}` : `record ${g} ${step * 50}`;
        const { child, lines, exited } = writerProcess(path, g, 1);
        await new Promise<void>((resolve) => {
          const check = () => {
            if (lines.includes(marker) || child.exitCode !== null) {
              child.kill("SIGKILL");
              resolve();
            } else child.stdout!.once("data", () => setImmediate(check));
          };
          check();
        });
        await exited;
        const back = await readBack(path, KEY);
        expect(back.consistent).toBe(true);
        expect(back.records).toBe(RECORDS);
        expect([previous, BigInt(g)]).toContain(back.generation);
        if (marker.startsWith("written")) expect(back.generation).toBe(BigInt(g));
        previous = back.generation;
      }),
      { numRuns: 5 },
    );
  });

  it("two processes writing one path never produce a corrupt file, and a reader meanwhile always reads a whole one", { timeout: 60_000 }, async () => {
    const path = join(folder, "shared.bin");
    await writeSnapshotFile(syntheticContent(1, RECORDS, SIZE), { path, key: KEY, identity: IDENTITY });
    const a = writerProcess(path, 100, 6);
    const b = writerProcess(path, 200, 6);
    let done = false;
    void Promise.all([a.exited, b.exited]).then(() => (done = true));
    let reads = 0;
    const seen = new Set<bigint>();
    while (!done) {
      const back = await readBack(path, KEY);
      expect(back.consistent).toBe(true);
      expect(back.records).toBe(RECORDS);
      seen.add(back.generation);
      reads++;
    }
    expect(a.child.exitCode).toBe(0);
    expect(b.child.exitCode).toBe(0);
    const final = await readBack(path, KEY);
    expect([105n, 205n]).toContain(final.generation);
    expect(final.consistent).toBe(true);
    expect(reads).toBeGreaterThan(0);
  });
});
