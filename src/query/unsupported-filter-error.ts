/**
 * Filters that parse but that memory/file storage cannot evaluate: `$not` and every comparison
 * operator other than equality. The server answers UNIMPLEMENTED with this error's message.
 *
 * The wording is what reaches a client of the real server: Pomerium wraps a gRPC status error
 * (`fmt.Errorf("%w: not", ErrLogicalOperatorNotSupported)`), and grpc-go then sends the whole
 * wrapped text, which begins with the inner status's own "rpc error: code = Unimplemented
 * desc = ..." rendering (status.FromError keeps err.Error() for wrapped statuses).
 */
export class UnsupportedFilterError extends Error {
  override readonly name = "UnsupportedFilterError";
  /** The gRPC status the server answers with. */
  readonly grpcCode = "UNIMPLEMENTED";
}

/** `$not` on memory/file storage. */
export function logicalOperatorNotSupported(): UnsupportedFilterError {
  return new UnsupportedFilterError("rpc error: code = Unimplemented desc = logical operator not supported: not");
}

/** Any operator but equality on memory/file storage; `operator` as Pomerium names it (`>`, `startsWith`). */
export function operatorNotSupported(operator: string): UnsupportedFilterError {
  return new UnsupportedFilterError(`rpc error: code = Unimplemented desc = operator not supported: ${operator}`);
}
