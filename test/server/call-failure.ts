/** Test helper: the ConnectError a call, a stream or an async function ends with (it must fail). */
import { ConnectError } from "@connectrpc/connect";

export async function failure(call: Promise<unknown> | AsyncIterable<unknown> | (() => Promise<unknown>)): Promise<ConnectError> {
  try {
    if (typeof call === "function") await call();
    else if (call instanceof Promise) await call;
    else for await (const _ of call) void _;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}
