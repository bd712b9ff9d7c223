/**
 * The start-up probe of connect-node's wording for a reset stream (connect-node-reset-probe.ts):
 * it must pass against the connect-node we ship with, and fail when a release words a reset
 * differently or words a server's CANCELLED status like a reset. The interceptors below stand for
 * such a release: they rewrite the errors the real connect-node transport produced.
 */
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { probeConnectNodeResetWording } from "../../src/transport/connect-node-reset-probe.js";

/** Rewrites every failure of a call with `rewrite`. */
function rewriting(rewrite: (error: ConnectError) => ConnectError): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      throw error instanceof ConnectError ? rewrite(error) : error;
    }
  };
}

describe("connect-node stream reset probe", () => {
  it("recognises a reset and not a CANCELLED status with the connect-node in package.json", async () => {
    expect(await probeConnectNodeResetWording()).toBe(true);
  });

  it("fails when a reset is worded differently", async () => {
    const reworded = rewriting((e) => (e.rawMessage.startsWith("http/2 stream closed") ? new ConnectError("stream reset by the peer (CANCEL)", e.code) : e));
    expect(await probeConnectNodeResetWording([reworded])).toBe(false);
  });

  it("fails when the server's CANCELLED status is worded like a reset", async () => {
    const confusing = rewriting((e) => new ConnectError("http/2 stream closed with error code CANCEL (0x8)", e.code));
    expect(await probeConnectNodeResetWording([confusing])).toBe(false);
  });
});
