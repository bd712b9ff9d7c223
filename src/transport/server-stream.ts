/**
 * A server-streaming call made straight on a Connect `Transport`, for the sync loop's streams.
 *
 * The generated client's streaming method does the same `transport.stream(...)` call, then hands
 * the messages out through an async generator that delegates to the transport's iterator. That
 * generator is compiled down with helper functions that make several promises and small objects
 * per message: about 150 ns and a few hundred bytes of garbage for each record of a SyncLatest
 * (measured by iterating one million already-decoded messages both ways: ~210 vs ~55 ns each).
 * Here `next()` is the transport's own once the response has started. Everything else is the
 * client's: the call starts when this is called, interceptors run inside the transport, errors
 * are the transport's ConnectErrors, and the iterator has `next` only (no `return`/`throw`; the
 * caller's signal cancels the call).
 */
import type { DescMessage, DescMethodServerStreaming, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { StreamResponse, Transport } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";

export interface ServerStreamOptions {
  /** Cancels the call (the reader then sees Canceled). */
  readonly signal: AbortSignal;
  /** Request headers, as the client's `headers` call option. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Starts `method` on `transport` and returns its messages; iterate it once, one `next()` at a time (as `for await` does). */
export function openServerStream<I extends DescMessage, O extends DescMessage>(
  transport: Transport,
  method: DescMethodServerStreaming<I, O>,
  input: MessageInitShape<I>,
  options: ServerStreamOptions,
): AsyncIterable<MessageShape<O>> {
  const response = transport.stream(method, options.signal, undefined, options.headers, createAsyncIterable([input]), undefined);
  // Its failure reaches the reader through next(); not an unhandled rejection meanwhile.
  response.catch(() => undefined);
  return { [Symbol.asyncIterator]: () => new ServerStreamMessages<I, O>(response) };
}

class ServerStreamMessages<I extends DescMessage, O extends DescMessage> implements AsyncIterator<MessageShape<O>> {
  readonly #response: Promise<StreamResponse<I, O>>;
  #messages: AsyncIterator<MessageShape<O>> | undefined;

  constructor(response: Promise<StreamResponse<I, O>>) {
    this.#response = response;
  }

  next(): Promise<IteratorResult<MessageShape<O>>> {
    const messages = this.#messages;
    if (messages !== undefined) return messages.next();
    return this.#response.then((r) => {
      this.#messages = r.message[Symbol.asyncIterator]();
      return this.#messages.next();
    });
  }
}
