/**
 * What a running Sync/SyncLatest stream listens to: new changes (wake-ups, no polling), Clear
 * (end with CANCELLED), server shutdown, and the client going away. One per stream.
 */
import type { DatabrokerStorage } from "./storage/databroker-storage.js";

export type StreamEnd = "cleared" | "shutdown" | "aborted";

export class StreamSignals implements Disposable {
  private pendingChange = false;
  private endReason: StreamEnd | undefined;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  private readonly onAbort = (): void => this.end("aborted");

  constructor(
    storage: DatabrokerStorage,
    private readonly signal: AbortSignal,
    private readonly registry: Set<StreamSignals>,
  ) {
    this.unsubscribe = storage.subscribe({
      onChange: () => {
        this.pendingChange = true;
        this.wakeUp();
      },
      onClear: () => this.end("cleared"),
    });
    registry.add(this);
    if (signal.aborted) this.end("aborted");
    else signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /** Why the stream must stop, if it must. */
  get ended(): StreamEnd | undefined {
    return this.endReason;
  }

  end(reason: StreamEnd): void {
    this.endReason ??= reason;
    this.wakeUp();
  }

  /** Resolves at the next change (or at once if one came since the last wait) or when the stream must end. */
  async nextChange(): Promise<void> {
    if (!this.pendingChange && this.endReason === undefined) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    this.pendingChange = false;
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  [Symbol.dispose](): void {
    this.unsubscribe();
    this.signal.removeEventListener("abort", this.onAbort);
    this.registry.delete(this);
  }
}
