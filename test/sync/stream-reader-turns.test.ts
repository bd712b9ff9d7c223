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

  it("shares one turn among readers: three buffered streams read at once do no more work per turn than one", async () => {
    // 8 us of work per message: the reader's first guess (10 us) already bounds its first batch,
    // so each turn's work is the budget's worth, MAX_TURN_MS / 0.008 = 750 messages, for all
    // three streams together. Were each reader to count the turn from its own last yield, they
    // would resume one after another in the same check phase of the loop, 750 messages each.
    const perMessageMs = 0.008;
    const messagesPerBudget = MAX_TURN_MS / perMessageMs;
    let tick = 0;
    // A timer: it runs in the loop's timers phase, once per iteration of a busy loop.
    const ticker = setInterval(() => tick++, 0);
    const handledInTick = new Map<number, number>();
    const read = () =>
      new Promise<void>((resolve) => {
        readStream<number>(() => buffered(6000), {
          onBatch(batch) {
            handledInTick.set(tick, (handledInTick.get(tick) ?? 0) + batch.length);
            busy(batch.length * perMessageMs);
            return { event: { type: "streamMessage", at: 0 } };
          },
          onEnd() {
            return { event: { type: "streamEnded", healthy: true } };
          },
        }, { idleTimeoutMs: 10_000, maxBatchSize: 10_000, now: () => 0 }).subscribe({ complete: resolve });
      });
    await Promise.all([read(), read(), read()]);
    clearInterval(ticker);
    const counts = [...handledInTick.values()];
    expect(counts.reduce((a, b) => a + b, 0)).toBe(18_000);
    // Descheduling only makes batches smaller (the reader learns the slower cost), never larger.
    expect(Math.max(...counts), `messages handled per turn: ${counts.join(", ")}`).toBeLessThanOrEqual(1.5 * messagesPerBudget);
  });
});
