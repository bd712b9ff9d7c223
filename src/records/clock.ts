/** The time source for validity checks; injectable so tests can sit exactly on a boundary. */
export interface Clock {
  /** Milliseconds since the Unix epoch, like Date.now(). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
