import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { streamErrorEvent } from "../../src/sync/stream-error-events.js";

const nodeError = (code: string) => Object.assign(new Error(code), { code });
const withCause = (message: string, code: Code, cause: unknown) => new ConnectError(message, code, undefined, undefined, cause);

describe("stream failures become the event that heals them", () => {
  it.each([
    ["ABORTED invalid server version", new ConnectError("invalid server version", Code.Aborted), "aborted"],
    ["ABORTED invalid record version", new ConnectError("invalid record version", Code.Aborted), "aborted"],
    ["CANCELLED from the server's Clear", new ConnectError("context canceled", Code.Canceled), "cancelledByServer"],
    ["UNAUTHENTICATED invalid JWT", new ConnectError("invalid JWT", Code.Unauthenticated), "unauthenticated"],
    ["PERMISSION_DENIED", new ConnectError("denied", Code.PermissionDenied), "unauthenticated"],
    ["UNAVAILABLE", new ConnectError("no shared key defined", Code.Unavailable), "error"],
    ["INTERNAL", new ConnectError("boom", Code.Internal), "error"],
    ["a plain Error", new Error("weird"), "error"],
    ["a reset socket reported as Aborted", withCause("read ECONNRESET", Code.Aborted, nodeError("ECONNRESET")), "error"],
    ["a destroyed session reported as Canceled", withCause("session gone", Code.Canceled, nodeError("ERR_HTTP2_INVALID_SESSION")), "error"],
    // A stopping databroker resets its streams (RST_STREAM CANCEL); only a CANCELLED status is a Clear.
    ["an HTTP/2 stream reset with CANCEL", new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled), "error"],
  ] as const)("%s -> %s", (_, reason, expected) => {
    expect(streamErrorEvent(reason).type).toBe(expected);
  });

  it.each([
    ["refused", withCause("connect ECONNREFUSED", Code.Unavailable, nodeError("ECONNREFUSED")), true],
    ["TLS name mismatch", withCause("altnames", Code.Internal, nodeError("ERR_TLS_CERT_ALTNAME_INVALID")), true],
    ["unknown CA", withCause("unable to verify", Code.Internal, nodeError("UNABLE_TO_VERIFY_LEAF_SIGNATURE")), true],
    ["UNAVAILABLE from the server", new ConnectError("no shared key defined", Code.Unavailable), true],
    ["INTERNAL from the server", new ConnectError("boom", Code.Internal), false],
    ["an HTTP/2 stream reset", new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled), true],
    ["CANCELLED status from a Clear", new ConnectError("context canceled", Code.Canceled), false],
  ] as const)("marks %s as a connection failure: %s", (_, reason, expected) => {
    const event = streamErrorEvent(reason);
    expect(event.type === "error" && event.connectionFailure).toBe(expected);
  });
});
