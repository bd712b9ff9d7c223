/**
 * The main thread's CPU time so far in ms (Linux schedstat; NaN elsewhere), to tell our own work
 * from being descheduled on a shared machine: the largest main-thread CPU time in one event-loop
 * gap is the stall an idle machine would see.
 */
import { readFileSync } from "node:fs";

export function mainThreadCpuMs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    return Number.NaN;
  }
}
