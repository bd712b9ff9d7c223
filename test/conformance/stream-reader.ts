/**
 * Reads a server stream one message at a time with deadlines, so a test can say "the next
 * message arrives", "nothing arrives for a while", "the stream ends" or "the stream fails".
 */
import { ConnectError } from "@connectrpc/connect";

type Outcome<T> = { kind: "message"; value: T } | { kind: "end" } | { kind: "error"; error: ConnectError };

export class StreamReader<T> {
  private readonly iterator: AsyncIterator<T>;
  private pending: Promise<Outcome<T>> | undefined;

  private readonly abort = new AbortController();

  /**
   * @param open starts the stream; aborting the signal must cancel it
   * @param toError maps what the stream throws to a ConnectError (e.g. from a grpc-js ServiceError)
   */
  constructor(
    open: (signal: AbortSignal) => AsyncIterable<T>,
    private readonly toError: (e: unknown) => ConnectError = (e) => ConnectError.from(e),
  ) {
    this.iterator = open(this.abort.signal)[Symbol.asyncIterator]();
  }

  /** The next outcome, or "timeout" (the pending read stays pending for a later call). */
  private async outcome(timeoutMs: number): Promise<Outcome<T> | "timeout"> {
    this.pending ??= this.iterator.next().then(
      (r): Outcome<T> => (r.done === true ? { kind: "end" } : { kind: "message", value: r.value }),
      (e: unknown): Outcome<T> => ({ kind: "error", error: this.toError(e) }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([this.pending, timeout]);
    clearTimeout(timer);
    if (result !== "timeout") this.pending = undefined;
    return result;
  }

  /** The next message; fails if the stream ends, errors or stays silent. */
  async next(timeoutMs = 5_000): Promise<T> {
    const o = await this.outcome(timeoutMs);
    if (o === "timeout") throw new Error(`no message within ${timeoutMs} ms`);
    if (o.kind === "end") throw new Error("stream ended, expected a message");
    if (o.kind === "error") throw new Error(`stream failed, expected a message: [${o.error.code}] ${o.error.rawMessage}`);
    return o.value;
  }

  /** The next n messages. */
  async take(n: number, timeoutMs = 5_000): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  /** Asserts the stream sends nothing (and does not end) for the given time. */
  async expectSilence(ms: number): Promise<void> {
    const o = await this.outcome(ms);
    if (o === "timeout") return;
    if (o.kind === "message") throw new Error("expected silence, got a message");
    if (o.kind === "end") throw new Error("expected silence, the stream ended");
    throw new Error(`expected silence, the stream failed: [${o.error.code}] ${o.error.rawMessage}`);
  }

  /** Reads every message until the stream ends OK; fails on error or timeout. */
  async drain(timeoutMs = 5_000): Promise<T[]> {
    const out: T[] = [];
    for (;;) {
      const o = await this.outcome(timeoutMs);
      if (o === "timeout") throw new Error(`stream did not end within ${timeoutMs} ms`);
      if (o.kind === "end") return out;
      if (o.kind === "error") throw new Error(`stream failed: [${o.error.code}] ${o.error.rawMessage}`);
      out.push(o.value);
    }
  }

  /** Reads until the stream fails and returns the error (and the messages seen before it). */
  async failure(timeoutMs = 5_000): Promise<{ error: ConnectError; before: T[] }> {
    const before: T[] = [];
    for (;;) {
      const o = await this.outcome(timeoutMs);
      if (o === "timeout") throw new Error(`stream did not fail within ${timeoutMs} ms`);
      if (o.kind === "end") throw new Error("stream ended OK, expected an error");
      if (o.kind === "error") return { error: o.error, before };
      before.push(o.value);
    }
  }

  /** Cancels the stream from the client side. */
  cancel(): void {
    this.abort.abort();
  }
}
