/**
 * How often this machine takes the CPU away from a busy thread, and for how long: a loop that
 * does nothing but read the clock, for a few seconds, records every step between two readings
 * longer than 20 us (a reading takes well under 1 us). On an idle host such a step is the thread
 * not running: an interrupt, the hypervisor, another task. A first read of a session takes ~10 us,
 * so at N such steps per second about N * 10 us of every second of first reads lands on one of
 * them: that share of first reads is slower by the step, whatever the SDK does.
 *
 *   npx tsx bench/host-interruptions.ts [--seconds 5] [--runs 2]
 *
 * Prints one JSON line per run: steps per second by length, and the machine's CPU time by kind
 * over the run (from /proc/stat, in clock ticks: steal is time the hypervisor ran something else).
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, runs: { type: "string", default: "2" } } });
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const KINDS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"] as const;

function cpuTicks(): number[] {
  const first = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  return first.trim().split(/\s+/).slice(1, 1 + KINDS.length).map(Number);
}

const BOUNDS_US = [20, 40, 100, 1000, Number.POSITIVE_INFINITY];
for (let run = 0; run < RUNS; run++) {
  const counts = new Array<number>(BOUNDS_US.length - 1).fill(0);
  const ticks0 = cpuTicks();
  let last = performance.now();
  const end = last + SECONDS * 1000;
  let longestUs = 0;
  for (;;) {
    const now = performance.now();
    const stepUs = (now - last) * 1000;
    last = now;
    if (stepUs > BOUNDS_US[0]!) {
      let k = 0;
      while (stepUs >= BOUNDS_US[k + 1]!) k++;
      counts[k]!++;
      if (stepUs > longestUs) longestUs = stepUs;
    }
    if (now > end) break;
  }
  const ticks1 = cpuTicks();
  const perSecond = Object.fromEntries(counts.map((c, k) => [`${BOUNDS_US[k]}-${BOUNDS_US[k + 1]}us`, Number((c / SECONDS).toFixed(1))]));
  const cpu = Object.fromEntries(KINDS.map((kind, i) => [kind, (ticks1[i] ?? 0) - (ticks0[i] ?? 0)]));
  process.stdout.write(`${JSON.stringify({ seconds: SECONDS, stepsPerSecond: perSecond, longestUs: Number(longestUs.toFixed(1)), cpuTicks: cpu })}\n`);
}
