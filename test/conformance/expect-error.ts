/**
 * Assertions on gRPC errors as a Connect client sees them: the status code and the raw
 * grpc-message text the server sent.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";

export type MessageExpectation = string | RegExp | { contains: string } | undefined;

/** Awaits a call that must fail, and checks its code and (optionally) its message. */
export async function expectCallError(call: Promise<unknown>, code: Code, message?: MessageExpectation): Promise<ConnectError> {
  let error: ConnectError | undefined;
  try {
    await call;
  } catch (e) {
    error = ConnectError.from(e);
  }
  if (error === undefined) throw new Error(`expected ${Code[code]}, the call succeeded`);
  expectError(error, code, message);
  return error;
}

/** Reads a stream that must fail before or after some messages, and checks the error. */
export async function expectStreamError(
  stream: AsyncIterable<unknown>,
  code: Code,
  message?: MessageExpectation,
): Promise<{ error: ConnectError; messages: unknown[] }> {
  const messages: unknown[] = [];
  let error: ConnectError | undefined;
  try {
    for await (const msg of stream) messages.push(msg);
  } catch (e) {
    error = ConnectError.from(e);
  }
  if (error === undefined) throw new Error(`expected ${Code[code]}, the stream ended OK after ${messages.length} messages`);
  expectError(error, code, message);
  return { error, messages };
}

export function expectError(error: ConnectError, code: Code, message?: MessageExpectation): void {
  expect(`${Code[error.code]}: ${error.rawMessage}`).toMatch(new RegExp(`^${Code[code]}: `));
  if (message === undefined) return;
  if (typeof message === "string") expect(error.rawMessage).toBe(message);
  else if (message instanceof RegExp) expect(error.rawMessage).toMatch(message);
  else expect(error.rawMessage).toContain(message.contains);
}
