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

/**
 * The main thread's read and write system calls so far (Linux /proc task io; NaN elsewhere): a
 * unary call's socket writes and reads show in them, one per `write`/`read` the thread made.
 */
export function mainThreadSyscalls(): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/self/task/${process.pid}/io`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(io)?.[1] ?? Number.NaN);
    return { reads: field("syscr"), writes: field("syscw") };
  } catch {
    return { reads: Number.NaN, writes: Number.NaN };
  }
}
