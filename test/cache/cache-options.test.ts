/**
 * createDatabrokerCache checks every option before anything connects and throws what the README
 * lists: ConnectError InvalidArgument (or SharedSecretError), never a bare RangeError.
 */
import { describe, expect, it } from "vitest";
import { Code, ConnectError, createDatabrokerCache, type DatabrokerCacheOptions } from "../../src/index.js";

const SECRET = Buffer.alloc(32, 7).toString("base64");
// Nothing listens there; construction must fail (or succeed) without connecting anyway.
const URL = "http://127.0.0.1:1";
const LONGEST_TIMER_MS = 2 ** 31 - 1;

function thrownBy(options: Partial<DatabrokerCacheOptions>): unknown {
  try {
    const cache = createDatabrokerCache({ url: URL, sharedSecret: SECRET, ...options });
    void cache.close();
    return undefined;
  } catch (error) {
    return error;
  }
}

describe.each(["idleTimeoutMs", "connectTimeoutMs"] as const)("the %s option", (name) => {
  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, LONGEST_TIMER_MS + 1, "1000"])("refuses %s with ConnectError InvalidArgument", (value) => {
    const error = thrownBy({ [name]: value as number });
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain(`\`${name}\` must be a positive number of milliseconds`);
  });

  it.each([1, 30_000, LONGEST_TIMER_MS])("accepts %s", (value) => {
    expect(thrownBy({ [name]: value })).toBeUndefined();
  });
});
