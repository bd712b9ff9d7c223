/**
 * The main bench's "Put round trip" measure, for the scripts that compare clients on it: `n`
 * sequential single-session Puts (ids `rtt-<tag>-<i>`), each timed to its answer and followed by
 * the Put that deletes it again, so the server's data set stays as seeded.
 */
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { RecordSchema, type Record as DatabrokerRecord } from "../gen/databroker/databroker_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { mainThreadCpuMs, mainThreadSyscalls } from "./main-thread-cpu.js";

/** One Put of these records through the client under test, resolving when it is answered. */
export type PutRecords = (records: DatabrokerRecord[]) => Promise<unknown>;

export interface PutRoundTrips {
  /** Each Put's round trip (the deletes are not timed). */
  readonly ms: number[];
  /** Main-thread CPU (Linux schedstat) per call, over the Puts and their deletes. */
  readonly cpuUs: number;
  /** The main thread's write system calls per call (socket writes, mostly), over the same calls. */
  readonly writesPerCall: number;
  /** Its read system calls per call (socket reads, mostly). */
  readonly readsPerCall: number;
}

export async function timePutRoundTrips(put: PutRecords, tag: string, n: number): Promise<PutRoundTrips> {
  const d = new DemoRecords({ seed: 98 });
  const records = Array.from({ length: n }, (_, i) => DemoRecords.record(d.session(`rtt-${tag}-${i}`, 0)));
  const ms: number[] = [];
  const cpu0 = mainThreadCpuMs();
  const io0 = mainThreadSyscalls();
  for (const record of records) {
    const s = performance.now();
    await put([record]);
    ms.push(performance.now() - s);
    await put([create(RecordSchema, { type: record.type, id: record.id, data: record.data, deletedAt: timestampNow() })]);
  }
  const cpuUs = ((mainThreadCpuMs() - cpu0) * 1000) / (2 * n);
  const io = mainThreadSyscalls();
  return { ms, cpuUs, writesPerCall: (io.writes - io0.writes) / (2 * n), readsPerCall: (io.reads - io0.reads) / (2 * n) };
}
