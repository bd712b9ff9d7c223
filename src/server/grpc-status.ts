/** Maps storage errors to the gRPC statuses the real server answers with. */
import { Code, ConnectError } from "@connectrpc/connect";
import { StorageError, type StorageErrorCode } from "./storage/storage-error.js";

const CODES: { readonly [K in StorageErrorCode]: Code } = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  ABORTED: Code.Aborted,
  UNIMPLEMENTED: Code.Unimplemented,
  UNKNOWN: Code.Unknown,
  CANCELLED: Code.Canceled,
};

/** A ConnectError for a storage error; other errors pass through unchanged. */
export function toConnectError(err: unknown): unknown {
  if (err instanceof StorageError) return new ConnectError(err.message, CODES[err.code]);
  return err;
}

/** Runs `fn`, turning storage errors into ConnectErrors. */
export function withGrpcStatus<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toConnectError(err);
  }
}
