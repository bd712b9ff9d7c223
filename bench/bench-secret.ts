/**
 * The benchmark's shared secret: random per run, handed to child processes through the
 * environment (never argv, never printed).
 */
import { randomBytes } from "node:crypto";

export const SECRET_ENV = "BENCH_SHARED_SECRET";

export function newBenchSecret(): string {
  return randomBytes(32).toString("base64");
}

export function benchSecretFromEnv(): string {
  const secret = process.env[SECRET_ENV];
  if (secret === undefined || secret === "") throw new Error(`env ${SECRET_ENV} is not set (the runner sets it)`);
  return secret;
}
