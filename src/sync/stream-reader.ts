/**
 * Reads one server stream as an Observable of loop inputs. Messages that arrive together are
 * delivered as one batch (flushed on the next macrotask, or when the batch is full, after
 * which the reader yields to the event loop so a large stream does not starve other work).
 * A stream silent for longer than the idle limit is cancelled and reported. Unsubscribing
 * aborts the stream and clears every timer.
 */
import { Observable } from "rxjs";
import type { ReplicaEvent } from "../replica/replica-events.js";
import { streamErrorEvent } from "./stream-error-events.js";
import type { SyncMachineEvent } from "./sync-state-machine.js";

/** One input for the loop: a machine event, and the replica events it carries if accepted. */
export interface LoopInput {
  readonly event: SyncMachineEvent;
  readonly outputs?: readonly ReplicaEvent[];
}

export interface StreamReaderOptions {
  readonly idleTimeoutMs: number;
  readonly maxBatchSize: number;
  readonly now: () => number;
}

export interface StreamHandlers<M> {
  /** Called with each batch, in stream order; returns what to tell the loop. */
  onBatch(batch: readonly M[], at: number): LoopInput;
  /** Called when the stream ends OK (after the last batch). */
  onEnd(at: number): LoopInput;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export function readStream<M>(
  open: (signal: AbortSignal) => AsyncIterable<M>,
  handlers: StreamHandlers<M>,
  options: StreamReaderOptions,
): Observable<LoopInput> {
  return new Observable<LoopInput>((subscriber) => {
    const abort = new AbortController();
    let idleTimer: NodeJS.Timeout | undefined;
    let flushTimer: NodeJS.Immediate | undefined;
    let batch: M[] = [];

    const stopTimers = () => {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      if (flushTimer !== undefined) clearImmediate(flushTimer);
      idleTimer = undefined;
      flushTimer = undefined;
    };
    const flush = () => {
      if (flushTimer !== undefined) clearImmediate(flushTimer);
      flushTimer = undefined;
      if (batch.length === 0 || abort.signal.aborted) return;
      const full = batch;
      batch = [];
      subscriber.next(handlers.onBatch(full, options.now()));
    };
    const armIdle = () => {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        flush();
        abort.abort();
        stopTimers();
        subscriber.next({ event: { type: "idleTimeout", idleMs: options.idleTimeoutMs } });
        subscriber.complete();
      }, options.idleTimeoutMs);
    };

    const run = async () => {
      armIdle();
      try {
        for await (const message of open(abort.signal)) {
          if (abort.signal.aborted) return;
          armIdle();
          batch.push(message);
          if (batch.length >= options.maxBatchSize) {
            flush();
            await yieldToEventLoop();
          } else if (flushTimer === undefined) {
            flushTimer = setImmediate(flush);
          }
        }
        if (abort.signal.aborted) return;
        flush();
        stopTimers();
        subscriber.next(handlers.onEnd(options.now()));
        subscriber.complete();
      } catch (reason) {
        // Our own abort (unsubscribe or idle timeout) is not a stream failure.
        if (abort.signal.aborted) return;
        flush();
        stopTimers();
        abort.abort();
        subscriber.next({ event: streamErrorEvent(reason) });
        subscriber.complete();
      }
    };
    void run();

    return () => {
      abort.abort();
      stopTimers();
      batch = [];
    };
  });
}
