/**
 * Errors the storage engine raises, tagged with the gRPC status the real server answers with.
 * The engine stays free of gRPC; the service layer maps these to ConnectError.
 */
export type StorageErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "ABORTED"
  | "UNIMPLEMENTED"
  | "UNKNOWN"
  | "CANCELLED";

export class StorageError extends Error {
  override readonly name = "StorageError";
  constructor(
    readonly code: StorageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

