/**
 * A Connect Transport that sends each call over the URL set's current connection, so the
 * real-time client follows the same failover as the sync streams and shares their HTTP/2
 * sessions and JWT signing.
 */
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import type { DatabrokerUrlSet } from "../transport/databroker-url-set.js";

/** @param isClosed true once the owner closed: calls are refused with Canceled from then on. */
export function currentUrlTransport(urlSet: DatabrokerUrlSet, isClosed: () => boolean): Transport {
  const connection = () => {
    if (isClosed()) throw new ConnectError("databroker cache is closed", Code.Canceled);
    return urlSet.current().transport.transport;
  };
  return {
    unary: async (...args) => connection().unary(...args),
    stream: async (...args) => connection().stream(...args),
  };
}
