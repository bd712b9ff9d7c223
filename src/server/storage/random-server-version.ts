/** Server versions: random non-zero uint64 values from the OS CSPRNG (spec 3). */
import { randomBytes } from "node:crypto";

export function randomServerVersion(): bigint {
  for (;;) {
    const value = randomBytes(8).readBigUInt64BE();
    if (value !== 0n) return value;
  }
}
