import { stat } from "node:fs";
import { describe, expect, it } from "vitest";
import { MAX_TURN_MS, readStream } from "../../src/sync/stream-reader.js";
import { elapsedInTurn, nextTurn } from "../../src/sync/turn-budget.js";

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

/** An already-buffered stream: every message is there at once, so only the reader can yield. */
async function* buffered(count: number): AsyncGenerator<number> {
  for (let i = 0; i < count; i++) yield i;
}

/** Reads `stream` to its end with a reader that hands each batch to `onBatch`; resolves when it completes. */
function readAll(stream: () => AsyncIterable<number>, onBatch: (batch: readonly number[]) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    readStream<number>(stream, {
      onBatch(batch) {
        onBatch(batch);
        return { event: { type: "streamMessage", at: 0 } };
      },
      onEnd() {
        return { event: { type: "streamEnded", healthy: true } };
      },
    }, { idleTimeoutMs: 10_000, maxBatchSize: 10_000, now: () => 0 }).subscribe({ complete: resolve });
  });
}

describe("stream reader turns", () => {
  it("splits a buffered stream by time, not only by size, when handling is slow, and yields between batches", async () => {
    const batches: number[] = [];
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    await readAll(() => buffered(2000), (batch) => {
      batches.push(batch.length);
      busy(batch.length * 0.05); // 50 us of work per message: 100 ms in all
    });
    clearInterval(ticker);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(batches.length).toBeGreaterThan(8);
    expect(batches[0]).toBeLessThanOrEqual(Math.ceil(MAX_TURN_MS / 0.01) + 1); // the first guess bounds the first batch // 100 ms of work cannot go in one turn
    // After the first batch teaches the reader what a message costs, batches fit the turn budget.
    expect(Math.max(...batches.slice(1))).toBeLessThanOrEqual(Math.ceil(MAX_TURN_MS / 0.05) + 1);
    expect(turns).toBeGreaterThan(3);
  });

  /**
   * Reads three buffered streams at once, handling each message in `handleMs` of work, from the
   * start of a fresh turn. Returns how many messages were handled in each iteration of the loop
   * (seen by a timer of the test's own) and in each turn of the shared budget (a new turn is
   * seen when the budget's elapsed time goes down: within a turn it never does).
   */
  async function messagesPerTurn(handleMs: number): Promise<{ byTick: number[]; byTurn: number[] }> {
    await nextTurn();
    let tick = 0;
    // A timer: it runs in the loop's timers phase, once per iteration of a busy loop.
    const ticker = setInterval(() => tick++, 0);
    const handledInTick = new Map<number, number>();
    const byTurn: number[] = [];
    let lastElapsed = -1;
    const read = () =>
      readAll(() => buffered(6000), (batch) => {
        handledInTick.set(tick, (handledInTick.get(tick) ?? 0) + batch.length);
        if (byTurn.length === 0 || elapsedInTurn() < lastElapsed) byTurn.push(0);
        byTurn[byTurn.length - 1]! += batch.length;
        busy(batch.length * handleMs);
        lastElapsed = elapsedInTurn();
      });
    await Promise.all([read(), read(), read()]);
    clearInterval(ticker);
    return { byTick: [...handledInTick.values()], byTurn };
  }

  it("shares one turn among readers: three buffered streams read at once do no more work per turn than one", async () => {
    // 8 us of work per message: the reader's first guess (10 us) already bounds its first batch,
    // so each turn's work is the budget's worth, MAX_TURN_MS / 0.008 = 750 messages, for all
    // three streams together. Were each reader to count the turn from its own last yield, they
    // would resume one after another in the same check phase of the loop, 750 messages each.
    const perMessageMs = 0.008;
    const { byTick } = await messagesPerTurn(perMessageMs);
    expect(byTick.reduce((a, b) => a + b, 0)).toBe(18_000);
    // Descheduling only makes batches smaller (the reader learns the slower cost), never larger.
    // The test's timer and the budget's end of turn fire in the same timers phase, in either
    // order, so an iteration seen by the timer may hold the start of the next turn too.
    expect(Math.max(...byTick), `messages handled per iteration: ${byTick.join(", ")}`).toBeLessThanOrEqual(1.5 * (MAX_TURN_MS / perMessageMs));
  });

  it("holds a batch gathered while other streams spent the turn for the next turn", async () => {
    // The three readers gather side by side in microtasks, each sizing its batch against a turn
    // nobody has worked in yet: some 400-550 messages each, depending on the host. The first
    // hands its batch over; the others then find the turn (nearly) spent. Were they to hand over
    // all they gathered, the first turn would hold three batches, 1,200 messages or more; what
    // does not fit waits for the next turn instead.
    const perMessageMs = 0.008;
    const { byTurn } = await messagesPerTurn(perMessageMs);
    expect(byTurn.reduce((a, b) => a + b, 0)).toBe(18_000);
    expect(byTurn.length).toBeGreaterThan(18_000 / (MAX_TURN_MS / perMessageMs));
    expect(Math.max(...byTurn), `messages handled per turn: ${byTurn.join(", ")}`).toBeLessThanOrEqual(1.1 * (MAX_TURN_MS / perMessageMs));
  });

  it("does not let a batch that filled in a spent turn go out at the end of the iteration either", async () => {
    // The stream's messages arrive in the poll phase, as a socket's do (a file system callback
    // stands in for the socket here), with no turn running (waiting for the end of the current
    // turn first: nothing asks for the budget after it). It delivers 200 messages, then stalls 10 ms (a GC pause, a slow
    // decode) before the 201st: when the batch fills, the turn is spent. The reader armed its
    // deferred flush at the first message, for the check phase right after this poll phase;
    // that flush must not hand the batch over in the spent turn either: the batch goes out
    // first thing in the next turn.
    await nextTurn();
    await new Promise<void>((resolve) => stat(".", () => resolve()));
    async function* stallsBefore(count: number, at: number, stallMs: number): AsyncGenerator<number> {
      for (let i = 0; i < count; i++) {
        if (i === at) busy(stallMs);
        yield i;
      }
    }
    const handedOver: Array<{ size: number; elapsed: number }> = [];
    await readAll(() => stallsBefore(400, 200, 10), (batch) => {
      handedOver.push({ size: batch.length, elapsed: elapsedInTurn() });
    });
    expect(handedOver.reduce((sum, b) => sum + b.size, 0)).toBe(400);
    const first = handedOver[0]!;
    expect(first.size).toBe(201);
    expect(first.elapsed, "the first batch went out in the turn it found spent").toBeLessThan(MAX_TURN_MS);
  });

  it("holds back what the turn has no room for when several streams' small batches are flushed at the end of one iteration", async () => {
    // Three streams each deliver 400 messages in the same poll phase (a file system callback
    // stands in for the socket), then wait. 400 is below what a reader gathers before flushing
    // on its own (its first guess is 10 us per message: 600 in a turn), so each arms the flush
    // deferred to the check phase right after. Handling takes 10 us per message: were the three
    // deferred flushes to hand over all they gathered, that iteration would hold 1,200 messages
    // (12 ms). What the turn has no room for waits for the next turn instead.
    const perMessageMs = 0.01;
    const total = 1200;
    await nextTurn();
    await new Promise<void>((resolve) => stat(".", () => resolve()));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    async function* thenWait(count: number): AsyncGenerator<number> {
      for (let i = 0; i < count; i++) yield i;
      await released;
    }
    const byTurn: number[] = [];
    let lastElapsed = -1;
    let handled = 0;
    const read = () =>
      readAll(() => thenWait(total / 3), (batch) => {
        if (byTurn.length === 0 || elapsedInTurn() < lastElapsed) byTurn.push(0);
        byTurn[byTurn.length - 1]! += batch.length;
        busy(batch.length * perMessageMs);
        lastElapsed = elapsedInTurn();
        handled += batch.length;
        if (handled === total) release();
      });
    await Promise.all([read(), read(), read()]);
    expect(byTurn.reduce((a, b) => a + b, 0)).toBe(total);
    expect(byTurn.length, `messages handled per turn: ${byTurn.join(", ")}`).toBeGreaterThan(1);
    expect(Math.max(...byTurn), `messages handled per turn: ${byTurn.join(", ")}`).toBeLessThanOrEqual(1.1 * (MAX_TURN_MS / perMessageMs));
  });
});
