/**
 * Wraps a real source so that the first Sync waits at a gate before it reaches the server:
 * the test can write and compact while the loop is "away", then let it resume.
 */
import type { SyncSourceProvider, SyncStreamSource } from "../../src/sync/sync-stream-source.js";

export interface GatedProvider extends SyncSourceProvider {
  /** Sync calls opened so far (the first one waits at the gate). */
  syncCalls(): number;
  /** Lets the first Sync through. */
  release(): void;
  /** Errors the Sync streams ended with, as text. */
  readonly syncErrors: string[];
}

export function gateFirstSync(real: SyncSourceProvider): GatedProvider {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let calls = 0;
  const syncErrors: string[] = [];
  return {
    syncErrors,
    syncCalls: () => calls,
    release: () => release(),
    current(): SyncStreamSource {
      const source = real.current();
      return {
        url: source.url,
        resets: source.resets,
        connect: () => source.connect(),
        syncLatest: (type, signal) => source.syncLatest(type, signal),
        sync: (request, signal) =>
          (async function* () {
            if (calls++ === 0) await gate;
            try {
              yield* source.sync(request, signal);
            } catch (e) {
              syncErrors.push(String(e));
              throw e;
            }
          })(),
      };
    },
    reportConnectionFailure: (s) => real.reportConnectionFailure(s),
  };
}
