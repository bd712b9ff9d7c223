/**
 * The event loop's longest gaps while something runs, and what filled them: a 1 ms interval
 * timer notes the wall time and the main thread's CPU time between its ticks, and a GC observer
 * notes every collection. On a shared 2-core machine a long gap with little main-thread CPU is
 * the process being descheduled (the server under test runs on the other core), not our work, so
 * the most main-thread CPU in one gap (`maxCpuMs`) is the stall an idle machine would see.
 */
import { appendFileSync } from "node:fs";
import { performance, PerformanceObserver } from "node:perf_hooks";
import { mainThreadCpuMs } from "./main-thread-cpu.js";

export interface LoopGap {
  /** performance.now() at the tick before the gap. */
  readonly start: number;
  readonly wall: number;
  /** Main-thread CPU ms inside the gap (NaN off Linux). */
  readonly cpu: number;
}

export interface GcSpan {
  readonly start: number;
  readonly end: number;
}

export interface GapSummary {
  /** The 5 longest gaps by wall time, as "wall/main-thread CPU/GC" ms. */
  readonly byWall: string[];
  /** The most main-thread CPU in one gap (capped by its wall time). */
  readonly maxCpuMs: number;
}

export interface GapRecording {
  readonly gaps: readonly LoopGap[];
  readonly gcs: readonly GcSpan[];
  readonly summary: GapSummary;
}

/** GC ms overlapping a gap (or any span of time: `start` and `wall` in ms, as performance.now()). */
export function gcInside(gcs: readonly GcSpan[], gap: Pick<LoopGap, "start" | "wall">): number {
  return gcs.reduce((sum, c) => sum + Math.max(0, Math.min(c.end, gap.start + gap.wall) - Math.max(c.start, gap.start)), 0);
}

/**
 * Notes every collection from now until `stop()`. GC entries are delivered a turn or so late: let
 * a turn pass before stopping, so the last collections are counted.
 */
export function recordCollections(): { readonly spans: readonly GcSpan[]; stop(): void } {
  const spans: GcSpan[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) spans.push({ start: e.startTime, end: e.startTime + e.duration });
  });
  observer.observe({ entryTypes: ["gc"] });
  return { spans, stop: () => observer.disconnect() };
}

/** Starts recording; `stop()` ends it and summarises. */
export function trackEventLoopGaps(): { stop(): GapRecording } {
  const gaps: LoopGap[] = [];
  const collections = recordCollections();
  const gcs = collections.spans;
  let last = performance.now();
  let lastCpu = mainThreadCpuMs();
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    gaps.push({ start: last, wall: now - last, cpu: cpu - lastCpu });
    last = now;
    lastCpu = cpu;
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      // Callers let a turn pass before stop(), so the collections of the last gaps are counted.
      collections.stop();
      const sorted = [...gaps].sort((a, b) => b.wall - a.wall);
      const byWall = sorted.slice(0, 5).map((g) => `${Math.round(g.wall)}/${Math.round(g.cpu)}/gc${Math.round(gcInside(gcs, g))}`);
      const maxCpuMs = Math.round(Math.max(0, ...gaps.map((g) => Math.min(g.cpu, g.wall))));
      return { gaps, gcs, summary: { byWall, maxCpuMs } };
    },
  };
}

/**
 * With $GAP_WINDOWS_FILE set, appends the 5 gaps with the most main-thread CPU to it, as
 * `{ pid, windows: [startUs, endUs, cpuMs][] }`, on the monotonic clock a --cpu-prof profile's
 * timestamps use (us), to find what ran in them (bench/profile-in-gaps.ts).
 */
export function appendBusiestGapWindows(recording: GapRecording): void {
  const windowsFile = process.env.GAP_WINDOWS_FILE;
  if (!windowsFile) return;
  const offsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
  const windows = [...recording.gaps]
    .sort((a, b) => b.cpu - a.cpu)
    .slice(0, 5)
    .map((g) => [Math.round(offsetUs + g.start * 1000), Math.round(offsetUs + (g.start + g.wall) * 1000), Math.round(g.cpu)]);
  appendFileSync(windowsFile, `${JSON.stringify({ pid: process.pid, windows })}\n`);
}
