/**
 * The receiving side of one call, whatever carries its bytes: the response headers, the decoded
 * messages in order, the trailers and how the call ended. The carrier delivers into it
 * (`settleHeaders`, `deliver`, `finish`); the caller pulls messages through `next()`, one at a
 * time. Up to `readAhead` decoded messages wait in a queue, so a reader that keeps up gets
 * already-resolved promises, one per message. Past that the carrier is asked to hold back
 * (`wantsMore()` is false) and is told through `requestMore()` once the reader has taken one.
 *
 * Invariants:
 * - `next()` hands out every delivered message exactly once, in delivery order, and only then
 *   the end: done for a clean end, the call's error otherwise.
 * - The end is settled once; a message delivered after it is dropped.
 * - `headers` settles once: resolved by the response headers, or rejected with the call's
 *   error when the call failed before any (a trailers-only error answer).
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Messages a stream decodes ahead of its reader by default. Beyond this the carrier holds back,
 * and HTTP/2 flow control holds the server back.
 */
export const DEFAULT_READ_AHEAD = 64;

/** Consumed queue slots kept before the queue is compacted. */
const COMPACT_AFTER = 1024;

export abstract class CallMessages<O extends DescMessage> implements AsyncIterator<MessageShape<O>> {
  #header: Headers | undefined;
  #trailer: Headers | undefined;
  /** Resolves with the response headers; rejects for a trailers-only error or a failure before them. */
  readonly headers: Promise<void>;
  #resolveHeaders!: () => void;
  #rejectHeaders!: (error: ConnectError) => void;
  #headersSettled = false;
  readonly #queue: Array<MessageShape<O> | undefined> = [];
  #head = 0;
  #waiter: { resolve(r: IteratorResult<MessageShape<O>>): void; reject(e: unknown): void } | undefined;
  /** Set once the call has ended: with an error, or `null` for a clean end. */
  #ended: ConnectError | null | undefined;

  /**
   * @param output the response message type
   * @param decode its decoder (fromBinary, or the equivalent fast one for the sync streams)
   * @param readAhead how many decoded messages may wait for the reader
   */
  constructor(
    protected readonly output: O,
    private readonly decode: (bytes: Uint8Array) => MessageShape<O>,
    private readonly readAhead: number,
  ) {
    this.headers = new Promise<void>((resolve, reject) => {
      this.#resolveHeaders = resolve;
      this.#rejectHeaders = reject;
    });
    // A failure before anyone awaits the headers must not become an unhandled rejection.
    this.headers.catch(() => undefined);
  }

  /** The response headers (empty until they came), built at the first read. */
  get header(): Headers {
    return (this.#header ??= this.initialHeader());
  }

  /** The trailers (empty until they came), built at the first read. */
  get trailer(): Headers {
    return (this.#trailer ??= this.initialTrailer());
  }

  /**
   * The response headers' object, built when first read: empty here, for a carrier that fills it
   * in place; one that keeps the fields as received builds it from them (most calls never read it).
   */
  protected initialHeader(): Headers {
    return new Headers();
  }

  /** The trailers' object, built when first read (as `initialHeader`). */
  protected initialTrailer(): Headers {
    return new Headers();
  }

  /** Asks the carrier for more messages (called after the reader took one from the queue). */
  protected abstract requestMore(): void;

  /** Called once, when the call has ended (cleanly or not). */
  protected abstract onEnd(): void;

  /** Ends the call at once with `error` (the reader sees it) and cancels it on the wire. */
  abstract fail(error: ConnectError): void;

  /** True once the call has ended. */
  get hasEnded(): boolean {
    return this.#ended !== undefined;
  }

  /** True while the queue has room for messages read ahead of the reader. */
  wantsMore(): boolean {
    return this.#ended === undefined && this.#queue.length - this.#head < this.readAhead;
  }

  /** The response headers arrived (`undefined`), or the call failed before them. */
  settleHeaders(error: ConnectError | undefined): void {
    if (this.#headersSettled) return;
    this.#headersSettled = true;
    if (error === undefined) this.#resolveHeaders();
    else this.#rejectHeaders(error);
  }

  /**
   * One message's bytes, in order: decoded and delivered. Bytes that do not decode fail the
   * call (Internal); returns false then.
   */
  deliverEncoded(bytes: Uint8Array): boolean {
    let message: MessageShape<O>;
    try {
      message = this.decode(bytes);
    } catch (e) {
      this.fail(new ConnectError(`cannot decode ${this.output.typeName}: ${e instanceof Error ? e.message : String(e)}`, Code.Internal));
      return false;
    }
    this.deliver(message);
    return true;
  }

  /** One decoded message, in order. */
  deliver(message: MessageShape<O>): void {
    if (this.#ended !== undefined) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter.resolve({ done: false, value: message });
    } else {
      this.#queue.push(message);
    }
  }

  /** The call ended: `null` for a clean end, else its error. Later calls are ignored. */
  finish(outcome: ConnectError | null): void {
    if (this.#ended !== undefined) return;
    this.#ended = outcome;
    // Trailers-only responses carry no headers: an error then fails the call itself, as in
    // Connect's gRPC transport.
    this.settleHeaders(outcome ?? undefined);
    const waiter = this.#waiter;
    if (waiter !== undefined && this.#head === this.#queue.length) {
      this.#waiter = undefined;
      if (outcome === null) waiter.resolve({ done: true, value: undefined });
      else waiter.reject(outcome);
    }
    this.onEnd();
  }

  next(): Promise<IteratorResult<MessageShape<O>>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head]!;
      this.#queue[this.#head] = undefined;
      this.#head += 1;
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      } else if (this.#head >= COMPACT_AFTER) {
        // A reader that never quite catches up never empties the queue: drop the consumed slots.
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.requestMore();
      return Promise.resolve({ done: false, value });
    }
    if (this.#ended === null) return Promise.resolve({ done: true, value: undefined });
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }
}
