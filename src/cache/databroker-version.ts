/**
 * A point in a databroker's history. Record versions only compare within one server version: a
 * Clear, or a restart of memory storage, starts a new server version and may count record
 * versions from 1 again. A Put or Patch response gives both; Pomerium's session handle carries
 * `databroker_server_version` and `databroker_record_version`.
 */
export interface DatabrokerVersion {
  readonly serverVersion: bigint;
  readonly recordVersion: bigint;
}

/**
 * The version a Put or Patch made: its server version and the highest record version it wrote.
 * Hand it to `waitForVersion`, `lookup` or `getConsistent` for read-your-writes.
 */
export function versionOfWrite(response: { readonly serverVersion: bigint; readonly records: readonly { readonly version: bigint }[] }): DatabrokerVersion {
  let recordVersion = 0n;
  for (const record of response.records) if (record.version > recordVersion) recordVersion = record.version;
  return { serverVersion: response.serverVersion, recordVersion };
}
