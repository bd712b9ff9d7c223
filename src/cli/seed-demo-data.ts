/**
 * Seeds a databroker with demo users and sessions through its real gRPC API (Put), in batches
 * small enough to stay far below the 4 MiB message limit.
 */
import { DemoRecords } from "../demo/demo-records.js";
import type { DataBrokerClient } from "../transport/databroker-clients.js";
import type { Record } from "../../gen/databroker/databroker_pb.js";

export interface SeedCounts {
  readonly users: number;
  readonly sessions: number;
}

const PUT_BATCH = 500;

/** Returns the latest record version written; `onProgress` gets the number of records written so far. */
export async function seedDemoData(client: DataBrokerClient, counts: SeedCounts, onProgress?: (written: number) => void, seed = 1): Promise<bigint> {
  const demo = new DemoRecords({ seed });
  let latest = 0n;
  let written = 0;
  const put = async (records: Record[]) => {
    const response = await client.put({ records });
    written += records.length;
    onProgress?.(written);
    for (const record of response.records) if (record.version > latest) latest = record.version;
  };
  let batch: Record[] = [];
  const flush = async () => {
    if (batch.length > 0) await put(batch);
    batch = [];
  };
  for (let n = 0; n < counts.users; n++) {
    batch.push(DemoRecords.record(demo.user(n)));
    if (batch.length === PUT_BATCH) await flush();
  }
  for (let n = 0; n < counts.sessions; n++) {
    batch.push(DemoRecords.record(demo.session(`session-${n}`, counts.users > 0 ? n % counts.users : n)));
    if (batch.length === PUT_BATCH) await flush();
  }
  await flush();
  return latest;
}
