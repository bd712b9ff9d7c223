/** `databroker-cache query TYPE [--filter JSON] [--search TEXT] [--limit N]`: a server Query, as protobuf JSON. */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CliUsageError } from "./cli-error.js";
import { queryResponseJson } from "./record-json.js";
import { recordTypeFromName } from "./record-type-names.js";
import { connectRemote, explainRemoteError, type RemoteSettings } from "./remote-databroker.js";
import { isUnknownMethodAnswer, serverReason } from "./unknown-method-answer.js";

export interface QueryOptions {
  readonly remote: RemoteSettings;
  readonly type: string;
  /** The filter as JSON text, e.g. `{"user_id":"user-1"}`. */
  readonly filter: string | undefined;
  readonly search: string | undefined;
  readonly limit: number;
  readonly offset: number;
}

export async function runQuery(options: QueryOptions): Promise<number> {
  const type = recordTypeFromName(options.type);
  const filter = options.filter === undefined ? undefined : parseFilter(options.filter);
  const connection = await connectRemote(options.remote);
  try {
    const response = await connection.client.query({
      type,
      ...(filter !== undefined ? { filter } : {}),
      ...(options.search !== undefined ? { query: options.search } : {}),
      offset: BigInt(options.offset),
      limit: BigInt(options.limit),
    });
    process.stdout.write(`${JSON.stringify(queryResponseJson(response), null, 2)}\n`);
    return 0;
  } catch (error) {
    if (filter !== undefined && error instanceof ConnectError && error.code === Code.Unimplemented && !isUnknownMethodAnswer(error)) {
      // The server has Query but cannot evaluate this filter (e.g. $not or $startsWith on memory or file storage).
      throw new CliUsageError(
        `--filter uses an operator the databroker at ${connection.url} does not support (${serverReason(error)}); equality, $and and $or work on every storage`,
      );
    }
    throw explainRemoteError(error, connection.url);
  } finally {
    connection.close();
  }
}

function parseFilter(text: string): JsonObject {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new CliUsageError(`--filter is not valid JSON (${(error as Error).message}); expected e.g. '{"user_id":"user-1"}'`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new CliUsageError(`--filter must be a JSON object, e.g. '{"$or":[{"id":"a"},{"id":"b"}]}'`);
  }
  return value;
}
