/** Turning flag strings into values, with errors that name the flag (user errors, exit 2). */
import { CliUsageError } from "./cli-error.js";

/** A non-negative integer flag, or a usage error naming the flag. */
export function integerFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new CliUsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A positive integer flag (0 is refused: an interval or rate of 0 would mean "never"). */
export function positiveIntegerFlag(name: string, value: string | undefined, fallback: number): number {
  const n = integerFlag(name, value, fallback);
  if (n === 0) throw new CliUsageError(`--${name} must be at least 1`);
  return n;
}

/** A flag that must be given. */
export function requiredFlag<T>(name: string, value: T | undefined, hint: string): T {
  if (value === undefined) throw new CliUsageError(`--${name} is required: ${hint}`);
  return value;
}

/** Exactly `count` positional arguments, or a usage error showing the expected form. */
export function positionals(args: readonly string[], min: number, max: number, form: string): string[] {
  if (args.length < min || args.length > max) throw new CliUsageError(`expected ${form}`);
  return [...args];
}
