/** `databroker-cache get session|user|TYPE ID`: one record from the server, as protobuf JSON. */
import { Code, ConnectError } from "@connectrpc/connect";
import { recordJson } from "./record-json.js";
import { recordTypeFromName } from "./record-type-names.js";
import { connectRemote, explainRemoteError, type RemoteSettings } from "./remote-databroker.js";

export interface GetOptions {
  readonly remote: RemoteSettings;
  /** A short name (session, user, service-account) or a record type. */
  readonly type: string;
  readonly id: string;
}

/** Exit code 0 when found, 1 when there is no such record. */
export async function runGet(options: GetOptions): Promise<number> {
  const type = recordTypeFromName(options.type);
  // A one-off read asks the server directly: a cache would sync the whole type first.
  const connection = await connectRemote(options.remote);
  try {
    const { record } = await connection.client.get({ type, id: options.id });
    if (record === undefined) throw new ConnectError("empty response", Code.NotFound);
    process.stdout.write(`${JSON.stringify(recordJson(record), null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ConnectError && error.code === Code.NotFound) {
      process.stderr.write(`databroker-cache: no ${type} record with id ${JSON.stringify(options.id)}\n`);
      return 1;
    }
    throw explainRemoteError(error, connection.url);
  } finally {
    connection.close();
  }
}
