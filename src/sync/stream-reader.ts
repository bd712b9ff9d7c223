/**
 * Reads one server stream as an Observable of loop inputs. Messages that arrive together are
 * delivered as one batch (flushed in the check phase after the poll phase they arrived in, or
 * when the batch is full, after which the reader yields to the event loop so a large stream does
 * not starve other work). Either way a batch goes out only as far as the turn has room for it
 * (turn-budget.ts): what does not fit waits for the next turn.
 * A stream silent for longer than the idle limit is cancelled and reported. Unsubscribing
 * aborts the stream and clears every timer.
 *
 * Every callback the reader schedules (the deferred flush, the idle timer, the read loop)
 * catches what its handlers throw and turns it into the stream's failure: nothing escapes into
 * a timer, where it would be an uncaught exception in the host process.
 */
import { Observable } from "rxjs";
import type { ReplicaEvent } from "../replica/replica-events.js";
import { streamErrorEvent } from "./stream-error-events.js";
import type { SyncMachineEvent } from "./sync-state-machine.js";
import { elapsedInTurn, nextTurn } from "./turn-budget.js";

/** One input for the loop: a machine event, and the replica events it carries if accepted. */
export interface LoopInput {
  readonly event: SyncMachineEvent;
  readonly outputs?: readonly ReplicaEvent[];
  /**
   * Run when the event is accepted, before the state changes (a streamed snapshot's swap, so it
   * happens in the same step as the move to Sync); if it throws, the error is the stream's
   * failure instead.
   */
  readonly commit?: () => void;
}

export interface StreamReaderOptions {
  readonly idleTimeoutMs: number;
  readonly maxBatchSize: number;
  readonly now: () => number;
}

export interface StreamHandlers<M> {
  /** Called with each batch, in stream order; returns what to tell the loop. */
  onBatch(batch: readonly M[], at: number): LoopInput;
  /**
   * Called when the stream ends OK (after the last batch). May complete asynchronously (a
   * snapshot finishing in slices); the reader drops the result if it was unsubscribed meanwhile.
   */
  onEnd(at: number): LoopInput | Promise<LoopInput>;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A stream whose messages are already buffered arrives in microtasks only; once the turn's
 * sliced work so far (every stream's and snapshot's, turn-budget.ts) plus the expected handling
 * of the batch gathered reaches this long, the reader flushes and yields, whatever the batch
 * size, so one turn of the event loop stays short (the target: no event-loop stall over 20 ms).
 */
export const MAX_TURN_MS = 6;

export function readStream<M>(
  open: (signal: AbortSignal) => AsyncIterable<M>,
  handlers: StreamHandlers<M>,
  options: StreamReaderOptions,
): Observable<LoopInput> {
  return new Observable<LoopInput>((subscriber) => {
    const abort = new AbortController();
    let idleTimer: NodeJS.Timeout | undefined;
    /**
     * The flush deferred from gathering a batch: none; in the check phase of this iteration
     * (armed at the batch's first message); or at the start of the next turn (the check phase
     * found the turn without room for all of it). At most one is pending.
     */
    let deferred: { readonly at: "check-phase"; readonly immediate: NodeJS.Immediate } | { readonly at: "next-turn" } | undefined;
    let batch: M[] = [];
    // What handling one message costs, learnt from each flush; the first guess (10 us, about a
    // session into the replica) bounds the first batch of a stream that is read faster than that.
    let handleMs = 0.01;

    /** Drops the pending deferred flush, if any. */
    const cancelDeferredFlush = () => {
      if (deferred?.at === "check-phase") clearImmediate(deferred.immediate);
      deferred = undefined;
    };
    const stopTimers = () => {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      idleTimer = undefined;
      cancelDeferredFlush();
    };
    /** Ends the stream with `reason` as its failure (once; nothing after it is delivered). */
    const fail = (reason: unknown) => {
      if (abort.signal.aborted) return;
      abort.abort();
      stopTimers();
      batch = [];
      subscriber.next({ event: streamErrorEvent(reason) });
      subscriber.complete();
    };
    /** Hands the batch (or its first `count` messages; the rest stay gathered) to the handler. */
    const flush = (count = batch.length) => {
      cancelDeferredFlush();
      if (batch.length === 0 || abort.signal.aborted) return;
      let full = batch;
      if (count < batch.length) full = batch.splice(0, count);
      else batch = [];
      const started = performance.now();
      let input: LoopInput;
      try {
        input = handlers.onBatch(full, options.now());
      } catch (reason) {
        fail(reason);
        return;
      }
      subscriber.next(input);
      // What handling one message costs (a snapshot's go into the replica): the recent worst,
      // slowly forgotten, since a GC marking step can make one batch several times slower.
      handleMs = Math.max(0.9 * handleMs, (performance.now() - started) / full.length);
    };
    /**
     * Hands over as many of the gathered messages as the shared turn has room for; true when
     * nothing is left to wait for the next turn (all handed over, or the stream failed).
     */
    const flushWhatFits = (): boolean => {
      const room = Math.ceil((MAX_TURN_MS - elapsedInTurn()) / handleMs);
      if (room >= batch.length) {
        flush();
        return true;
      }
      if (room > 0) flush(room);
      return batch.length === 0 || abort.signal.aborted;
    };
    /**
     * The deferred flush: what the turn has room for goes out, the rest waits for the next turn.
     * Several streams' batches gathered in one poll phase are each below the size that flushes on
     * its own, yet their deferred flushes run one after another in the same check phase: handing
     * each over whole would hold them all in one turn.
     */
    const flushDeferred = () => {
      deferred = undefined;
      if (abort.signal.aborted || flushWhatFits()) return;
      const wait = { at: "next-turn" } as const;
      deferred = wait;
      // A wait cancelled meanwhile (the batch flushed another way, or the reader torn down) no
      // longer is the pending one, and does nothing.
      void nextTurn().then(() => {
        if (deferred === wait) flushDeferred();
      });
    };
    /**
     * Flushes the gathered batch without overrunning the shared turn: what the turn has no room
     * left for waits for the next turn. Streams whose messages were all buffered gather their
     * batches side by side in microtasks, each sized against a turn nobody had worked in yet;
     * when the first of them has handled its batch, the others find the turn spent.
     */
    const flushWithinTurns = async () => {
      // This batch is flushed here, not by the deferred flush armed at its first message.
      cancelDeferredFlush();
      while (!flushWhatFits()) {
        await nextTurn();
        if (abort.signal.aborted) return;
      }
    };
    const armIdle = () => {
      // Restarted in place for each message: a new timer per message would allocate a Timeout
      // and a closure per message (hundreds of bytes) while a snapshot streams in.
      if (idleTimer !== undefined) {
        idleTimer.refresh();
        return;
      }
      idleTimer = setTimeout(() => {
        flush();
        if (abort.signal.aborted) return;
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
          // The turn is shared with every other stream and snapshot of the process (turn-budget.ts).
          if (batch.length >= options.maxBatchSize || elapsedInTurn() + batch.length * handleMs >= MAX_TURN_MS) {
            await flushWithinTurns();
            if (abort.signal.aborted) return;
            await yieldToEventLoop();
          } else if (deferred === undefined) {
            deferred = { at: "check-phase", immediate: setImmediate(flushDeferred) };
          }
        }
        if (abort.signal.aborted) return;
        await flushWithinTurns();
        if (abort.signal.aborted) return;
        stopTimers();
        const end = handlers.onEnd(options.now());
        const input = end instanceof Promise ? await end : end;
        if (abort.signal.aborted) return;
        subscriber.next(input);
        subscriber.complete();
      } catch (reason) {
        // Our own abort (unsubscribe or idle timeout) is not a stream failure.
        if (abort.signal.aborted) return;
        flush();
        fail(reason);
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
