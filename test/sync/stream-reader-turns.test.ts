import { describe, expect, it } from "vitest";
import { MAX_TURN_MS, readStream } from "../../src/sync/stream-reader.js";

/** An already-buffered stream: every message is there at once, so only the reader can yield. */
async function* buffered(count: number): AsyncGenerator<number> {
  for (let i = 0; i < count; i++) yield i;
}

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

describe("stream reader turns", () => {
  it("splits a buffered stream by time, not only by size, when handling is slow, and yields between batches", async () => {
    const batches: number[] = [];
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    await new Promise<void>((resolve) => {
      readStream<number>(() => buffered(2000), {
        onBatch(batch) {
          batches.push(batch.length);
          busy(batch.length * 0.05); // 50 us of work per message: 100 ms in all
          return { event: { type: "streamMessage", at: 0 } };
        },
        onEnd() {
          return { event: { type: "streamEnded", healthy: true } };
        },
      }, { idleTimeoutMs: 10_000, maxBatchSize: 10_000, now: () => 0 }).subscribe({ complete: resolve });
    });
    clearInterval(ticker);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(batches.length).toBeGreaterThan(8);
    expect(batches[0]).toBeLessThanOrEqual(Math.ceil(MAX_TURN_MS / 0.01) + 1); // the first guess bounds the first batch // 100 ms of work cannot go in one turn
    // After the first batch teaches the reader what a message costs, batches fit the turn budget.
    expect(Math.max(...batches.slice(1))).toBeLessThanOrEqual(Math.ceil(MAX_TURN_MS / 0.05) + 1);
    expect(turns).toBeGreaterThan(3);
  });
});
