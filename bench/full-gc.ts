/** A full collection for memory figures: the measuring scripts run under `node --expose-gc`. */
import { setImmediate as nextTurn } from "node:timers/promises";

const gc = (globalThis as { gc?: () => void }).gc;

/** Twice with a turn in between, so weak and finalised objects are gone too. */
export async function fullGc(): Promise<void> {
  if (gc === undefined) throw new Error("run with --expose-gc");
  gc();
  await nextTurn();
  gc();
}

/** Fails at start-up rather than at the first measurement. */
export function requireExposedGc(): void {
  if (gc === undefined) throw new Error("run with --expose-gc");
}
