/**
 * Reads one command's flags and positional arguments. Built on node:util's parseArgs in its
 * lenient mode, read token by token, so that every mistake is one line naming the flag (its
 * strict mode answers a negative number, `--limit -1`, with three lines about an "ambiguous"
 * argument, and `--help` with "Unknown option").
 *
 * `-h` or `--help` anywhere before `--` asks for the command's help, whatever else is given.
 */
import { parseArgs } from "node:util";
import { CliUsageError } from "./cli-error.js";

export interface FlagSpec {
  readonly type: "string" | "boolean";
  /** A string flag that may be repeated; its values are collected in order. */
  readonly multiple?: boolean;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** Each flag given: boolean flags as true, string flags as their value (repeatable ones as a list). */
export type FlagValues<S extends FlagSpecs> = {
  -readonly [K in keyof S]?: S[K]["type"] extends "boolean" ? boolean : S[K]["multiple"] extends true ? string[] : string;
};

/** What the command line asks for: the command's help, or a run with these flags and arguments. */
export type CommandLine<S extends FlagSpecs> =
  | { readonly kind: "help" }
  | { readonly kind: "run"; readonly values: FlagValues<S>; readonly positionals: readonly string[] };

/** A value taken from the next argument that starts with a dash is only accepted if it is a number. */
const NEGATIVE_NUMBER = /^-\d/;

export function parseCommandLine<S extends FlagSpecs>(command: string, args: readonly string[], flags: S): CommandLine<S> {
  const { tokens } = parseArgs({ args: [...args], options: flags, strict: false, allowPositionals: true, tokens: true });
  const seeHelp = `run 'databroker-cache ${command} --help'`;
  if (tokens.some((t) => t.kind === "option" && (t.name === "help" || t.rawName === "-h"))) return { kind: "help" };
  const values: Record<string, string | string[] | boolean> = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== "option") continue;
    const spec = Object.hasOwn(flags, token.name) ? flags[token.name] : undefined;
    if (spec === undefined) throw new CliUsageError(`unknown flag '${token.rawName}' for '${command}'; ${seeHelp}`);
    if (spec.type === "boolean") {
      if (token.value !== undefined) throw new CliUsageError(`${token.rawName} takes no value, got ${JSON.stringify(token.value)}`);
      values[token.name] = true;
      continue;
    }
    const value = token.value;
    if (value === undefined) throw new CliUsageError(`${token.rawName} needs a value; ${seeHelp}`);
    if (!token.inlineValue && value.startsWith("-") && !NEGATIVE_NUMBER.test(value)) {
      throw new CliUsageError(`${token.rawName} needs a value, got the flag ${JSON.stringify(value)} (for a value that starts with '-', write ${token.rawName}=VALUE)`);
    }
    if (spec.multiple === true) {
      const list = values[token.name];
      values[token.name] = Array.isArray(list) ? [...list, value] : [value];
    } else {
      values[token.name] = value;
    }
  }
  return { kind: "run", values: values as FlagValues<S>, positionals };
}
