/**
 * What ran in the busiest event-loop gaps of a profiled cache run: for each gap window
 * (bench/ts-cache-measure.ts --gaps writes them to $GAP_WINDOWS_FILE, on the monotonic clock in
 * microseconds, which V8's CPU profile timestamps also use on Linux), the profile's samples in it
 * by self function and by the innermost frame of ours on the stack.
 *
 *   GAP_WINDOWS_FILE=/tmp/w.jsonl npx tsx bench/run-benchmarks.ts --sessions 100000 --runs 1 --no-go --no-lean --gaps --cpu-prof
 *   npx tsx bench/profile-in-gaps.ts <dir of the .cpuprofile> /tmp/w.jsonl
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { frameLabel, indexProfile, type CpuProfile } from "./cpu-profile-frames.js";

const [dir, windowsFile] = process.argv.slice(2);
if (dir === undefined || windowsFile === undefined) throw new Error("usage: profile-in-gaps.ts <profile dir> <windows file>");
const profiles = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
const lines = readFileSync(windowsFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { pid: number; windows: [number, number, number][] });

for (const file of profiles) {
  // Node names a profile CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main one.
  const entry = lines.find((l) => file.includes(`.${l.pid}.0.`));
  if (entry === undefined) continue;
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  const index = indexProfile(profile);
  const times: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) times.push((t += d));
  console.log(`# ${file}`);
  for (const [start, end, cpu] of entry.windows) {
    const self = new Map<string, number>();
    const owner = new Map<string, number>();
    let total = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      // A sample stands for the time since the one before it (timeDeltas[i]).
      const at = times[i] as number;
      if (at <= start || at > end) continue;
      const dt = profile.timeDeltas[i] as number;
      total += dt;
      const node = index.node(profile.samples[i] as number);
      const name = frameLabel(node);
      self.set(name, (self.get(name) ?? 0) + dt);
      const o = index.ownerLabel(node);
      owner.set(o, (owner.get(o) ?? 0) + dt);
    }
    const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `    ${(v / 1000).toFixed(2)} ms  ${k}`).join("\n");
    console.log(`## gap ${((end - start) / 1000).toFixed(1)} ms wall, ${cpu} ms main-thread cpu; ${(total / 1000).toFixed(1)} ms of samples`);
    console.log(`  by self:\n${top(self)}`);
    console.log(`  by the innermost frame of ours:\n${top(owner)}`);
  }
}
