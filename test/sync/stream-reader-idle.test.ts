/**
 * The stream reader's idle limit: restarted by every message (a stream that keeps talking is never
 * cut, however long it lasts), fired once a stream falls silent, and restarted in place, not by
 * a new timer per message (a Timeout and a closure per message while a snapshot streams in).
 */
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { readStream, type LoopInput } from "../../src/sync/stream-reader.js";

const handlers = {
  onBatch: () => ({ event: { type: "streamMessage", at: 0 } }) as LoopInput,
  onEnd: () => ({ event: { type: "streamEnded", healthy: true } }) as LoopInput,
};

/** Reads a stream to its end; resolves with every event type the reader emitted. */
function read(open: (signal: AbortSignal) => AsyncIterable<number>, idleTimeoutMs: number): Promise<string[]> {
  const types: string[] = [];
  return new Promise((resolve, reject) => {
    readStream<number>(open, handlers, { idleTimeoutMs, maxBatchSize: 10_000, now: () => 0 }).subscribe({
      next: (input) => types.push(input.event.type),
      error: reject,
      complete: () => resolve(types),
    });
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("stream reader idle limit", () => {
  it("does not cut a stream whose messages keep coming, though it lasts several idle limits", async () => {
    // A message every 10 ms for over a second, under a 300 ms limit: only a limit restarted by
    // each message lets this stream end by itself (a wide margin: a loaded machine would have to
    // hold one 10 ms timer back by 300 ms to cut it).
    async function* paced(): AsyncGenerator<number> {
      for (let i = 0; i < 100; i++) {
        await delay(10);
        yield i;
      }
    }
    const types = await read(() => paced(), 300);
    expect(types.filter((t) => t === "streamMessage").length).toBeGreaterThan(0);
    expect(types.at(-1)).toBe("streamEnded");
    expect(types).not.toContain("idleTimeout");
  });

  it("cuts a stream that falls silent after some messages, and aborts its source", async () => {
    let aborted = false;
    async function* silentAfterThree(signal: AbortSignal): AsyncGenerator<number> {
      yield 1;
      yield 2;
      yield 3;
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      aborted = signal.aborted;
    }
    const types = await read((signal) => silentAfterThree(signal), 60);
    expect(types.at(-1)).toBe("idleTimeout");
    expect(types).not.toContain("streamEnded");
    expect(aborted).toBe(true);
  });

  it("restarts the limit in place: no new timer per message of a 5,000-message stream", async () => {
    const setTimeoutCalls = vi.spyOn(globalThis, "setTimeout");
    async function* buffered(): AsyncGenerator<number> {
      for (let i = 0; i < 5000; i++) yield i;
    }
    const types = await read(() => buffered(), 10_000);
    expect(types.at(-1)).toBe("streamEnded");
    // One for the idle limit; a timer per message would be 5,000.
    expect(setTimeoutCalls.mock.calls.length).toBeLessThan(10);
  });
});
