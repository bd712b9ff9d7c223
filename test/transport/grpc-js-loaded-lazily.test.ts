/**
 * @grpc/grpc-js is loaded only when a grpc-js transport is created (src/transport/grpc-js-module.ts):
 * importing the SDK and running a cache on its default transport must not load it. Checked in a
 * child process, whose module cache nothing else has touched.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const fixture = fileURLToPath(new URL("./fixtures/grpc-js-loading.ts", import.meta.url));

describe("@grpc/grpc-js loading", () => {
  it("is not loaded by importing the SDK nor by a cache on the default transport, and is by a grpc-js transport", { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", fixture], { timeout: 55_000 });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as { afterImport: boolean; afterDefaultCache: boolean; afterGrpcJsTransport: boolean };
    expect(result).toEqual({ afterImport: false, afterDefaultCache: false, afterGrpcJsTransport: true });
  });
});
