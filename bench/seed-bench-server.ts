/**
 * Seeds a benchmark server with the bench's data set: `users` demo users, then `sessions` demo
 * sessions (`session-<n>`, owned by `user-<n % users>`), Put in batches of 500.
 */
import { toBinary } from "@bufbuild/protobuf";
import { RecordSchema, type Record } from "../gen/databroker/databroker_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";

const PUT_BATCH = 500;

export interface SeededData {
  /** The encoded size of the sessions' Records, summed. */
  readonly encodedSessionBytes: number;
  /** The encoded size of every Record Put (sessions and users). */
  readonly encodedBytes: number;
}

export async function seedBenchServer(url: string, sharedSecret: string, sessions: number, users: number): Promise<SeededData> {
  const seedTransport = createDatabrokerTransport(url, { sharedSecret });
  const client = createDataBrokerClient(seedTransport.transport);
  const demo = new DemoRecords({ seed: 1 });
  let encodedSessionBytes = 0;
  let encodedUserBytes = 0;
  let batch: Record[] = [];
  const flush = async () => {
    if (batch.length > 0) await client.put({ records: batch });
    batch = [];
  };
  try {
    for (let n = 0; n < users; n++) {
      const r = DemoRecords.record(demo.user(n));
      encodedUserBytes += toBinary(RecordSchema, r).length;
      batch.push(r);
      if (batch.length === PUT_BATCH) await flush();
    }
    for (let n = 0; n < sessions; n++) {
      const r = DemoRecords.record(demo.session(`session-${n}`, n % users));
      encodedSessionBytes += toBinary(RecordSchema, r).length;
      batch.push(r);
      if (batch.length === PUT_BATCH) await flush();
    }
    await flush();
  } finally {
    await seedTransport.close();
  }
  return { encodedSessionBytes, encodedBytes: encodedSessionBytes + encodedUserBytes };
}
