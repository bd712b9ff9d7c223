/** Turning flag strings into values, with one-line errors that name the flag and what it accepts (user errors, exit 2). */
import { CliUsageError } from "./cli-error.js";

/** The longest delay Node's timers accept (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A non-negative integer flag, or a usage error naming the flag. */
export function integerFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new CliUsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/** An integer flag within [min, max]; `accepts` describes the range for the error message. */
function boundedIntegerFlag(name: string, value: string | undefined, fallback: number, min: number, max: number, accepts: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new CliUsageError(`--${name} must be ${accepts}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A positive integer flag (0 is refused: a rate of 0 would mean "never"). */
export function positiveIntegerFlag(name: string, value: string | undefined, fallback: number): number {
  return boundedIntegerFlag(name, value, fallback, 1, Number.MAX_SAFE_INTEGER, "a positive integer");
}

/** A duration or interval in milliseconds: at least 1, at most what a timer can wait. */
export function millisecondsFlag(name: string, value: string | undefined, fallback: number): number {
  return boundedIntegerFlag(name, value, fallback, 1, MAX_TIMER_MS, `an integer number of milliseconds from 1 to ${MAX_TIMER_MS}`);
}

/** A TCP port to listen on; 0 asks the system for any free port. */
export function portFlag(name: string, value: string | undefined, fallback: number): number {
  return boundedIntegerFlag(name, value, fallback, 0, 65_535, "an integer from 0 to 65535 (0: any free port)");
}

/** A flag that must be given. */
export function requiredFlag<T>(name: string, value: T | undefined, hint: string): T {
  if (value === undefined) throw new CliUsageError(`--${name} is required: ${hint}`);
  return value;
}

/** Between `min` and `max` positional arguments, or a usage error showing the expected form. */
export function positionals(args: readonly string[], min: number, max: number, form: string): string[] {
  if (args.length > max && max === 0) throw new CliUsageError(`unexpected argument ${JSON.stringify(args[0])}; expected ${form}`);
  if (args.length < min || args.length > max) throw new CliUsageError(`expected ${form}`);
  return [...args];
}
