/**
 * Reading and writing shared-secret files for the CLI. Pomerium uses a secret file's contents raw
 * (a trailing newline is an error there); we do the same, so a file that works here works there.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseSharedSecret, SharedSecretError } from "../transport/shared-secret.js";
import { CliUsageError } from "./cli-error.js";

/** Reads and validates a secret file; errors name the file, never its contents. */
export function readSharedSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliUsageError(`cannot read shared secret file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    parseSharedSecret(text);
  } catch (error) {
    if (error instanceof SharedSecretError) throw new CliUsageError(`shared secret file ${path}: ${error.message}`);
    throw error;
  }
  return text;
}

/** A fresh random secret written to a private temporary file; `remove` deletes the file and its folder. */
export function createTemporarySharedSecret(): { secret: string; path: string; remove: () => void } {
  const secret = randomBytes(32).toString("base64");
  const path = join(mkdtempSync(join(tmpdir(), "databroker-cache-")), "shared-secret");
  writeFileSync(path, secret, { mode: 0o600 });
  return { secret, path, remove: () => rmSync(dirname(path), { recursive: true, force: true }) };
}
