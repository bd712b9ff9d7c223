/**
 * Fans the replica's change batches out to subscribers without ever letting one of them hold up
 * the sync loop, reads, or another subscriber: the replica's listener only appends to each
 * subscriber's bounded {@link ChangeBuffer}; delivery happens later (a setImmediate drain for
 * Observers, the consumer's own pace for async iterators).
 *
 * Every subscriber receives the same batch objects, so each batch and its upserts and deletes
 * arrays are frozen before the first subscriber sees them: no subscriber can change what another
 * one receives (the records in them are frozen themselves, see cached-record.ts). A snapshot's
 * batch makes its arrays when first read, frozen (change-batch.ts): publishing never makes them.
 */
import { Observable } from "rxjs";
import { freezeBatch, type ChangeBatch } from "../replica/change-batch.js";
import { batchDataBytes, ChangeBuffer, type CacheChange, type ChangeBufferLimits } from "./change-buffer.js";

interface Sink {
  readonly type: string | undefined;
  readonly buffer: ChangeBuffer;
  /** Called after a push, so the sink can schedule delivery. */
  wake(): void;
  /** The hub closed: deliver what is buffered if possible, then end. */
  end(): void;
}

export class ChangeHub {
  readonly #sinks = new Set<Sink>();
  readonly #limits: ChangeBufferLimits;
  readonly #onOverflow: (type: string | undefined) => void;
  #closed = false;

  constructor(limits: ChangeBufferLimits, onOverflow: (type: string | undefined) => void) {
    this.#limits = limits;
    this.#onOverflow = onOverflow;
  }

  /**
   * The replica listener: O(subscribers) plus one pass over the batch's records to size it (only
   * when someone subscribes); never calls user code.
   */
  publish(batch: ChangeBatch): void {
    freezeBatch(batch);
    let bytes = -1;
    for (const sink of this.#sinks) {
      if (sink.type !== undefined && sink.type !== batch.type) continue;
      if (bytes < 0) bytes = batchDataBytes(batch);
      if (sink.buffer.push(batch, bytes)) this.#onOverflow(sink.type);
      sink.wake();
    }
  }

  /** Batches delivered asynchronously, each subscriber with its own bounded buffer. */
  observable(type: string | undefined): Observable<CacheChange> {
    return new Observable<CacheChange>((subscriber) => {
      if (this.#closed) {
        subscriber.complete();
        return;
      }
      let scheduled: NodeJS.Immediate | undefined;
      const buffer = new ChangeBuffer(this.#limits, type);
      const drain = () => {
        scheduled = undefined;
        for (let item = buffer.shift(); item !== undefined && !subscriber.closed; item = buffer.shift()) subscriber.next(item);
      };
      const sink: Sink = {
        type,
        buffer,
        wake: () => {
          scheduled ??= setImmediate(drain);
        },
        end: () => {
          if (scheduled !== undefined) clearImmediate(scheduled);
          drain();
          subscriber.complete();
        },
      };
      this.#sinks.add(sink);
      return () => {
        if (scheduled !== undefined) clearImmediate(scheduled);
        scheduled = undefined;
        buffer.clear();
        this.#sinks.delete(sink);
      };
    });
  }

  /**
   * Batches pulled at the consumer's pace (`for await`). A consumer that stops pulling costs at
   * most the buffer's bounds plus one batch; `break`/`return()` unsubscribes.
   */
  iterable(type: string | undefined): AsyncIterable<CacheChange> {
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<CacheChange> => {
        const buffer = new ChangeBuffer(this.#limits, type);
        let waiting: ((result: IteratorResult<CacheChange>) => void) | undefined;
        let ended = this.#closed;
        const done = (): IteratorResult<CacheChange> => ({ done: true, value: undefined });
        const sink: Sink = {
          type,
          buffer,
          wake: () => {
            if (waiting === undefined) return;
            const item = buffer.shift();
            if (item === undefined) return;
            const resolve = waiting;
            waiting = undefined;
            resolve({ done: false, value: item });
          },
          end: () => {
            ended = true;
            this.#sinks.delete(sink);
            if (waiting !== undefined && buffer.size === 0) {
              const resolve = waiting;
              waiting = undefined;
              resolve(done());
            }
          },
        };
        if (!ended) this.#sinks.add(sink);
        return {
          next: () => {
            const item = buffer.shift();
            if (item !== undefined) return Promise.resolve({ done: false, value: item });
            if (ended) return Promise.resolve(done());
            return new Promise((resolve) => (waiting = resolve));
          },
          return: () => {
            ended = true;
            buffer.clear();
            this.#sinks.delete(sink);
            const resolve = waiting;
            waiting = undefined;
            resolve?.(done());
            return Promise.resolve(done());
          },
        };
      },
    };
  }

  get subscriberCount(): number {
    return this.#sinks.size;
  }

  /** Ends every subscription (Observers get what was buffered first). */
  close(): void {
    this.#closed = true;
    for (const sink of [...this.#sinks]) sink.end();
    this.#sinks.clear();
  }
}
