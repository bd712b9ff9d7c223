/** Realistic ~1.8 KB demo sessions as the replica takes them in (`session-0` .. `session-<count - 1>`, versions 1..count). */
import { toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { SessionSchema } from "../gen/session/session_pb.js";
import { DemoRecords } from "../src/demo/demo-records.js";
import { SESSION_TYPE } from "../src/records/type-urls.js";
import type { RawRecord } from "../src/replica/replica-events.js";

export function demoSessionRecords(count: number): RawRecord[] {
  const demo = new DemoRecords({ seed: 1, nowMs: Date.now() });
  const records: RawRecord[] = [];
  for (let i = 0; i < count; i++) {
    const id = `session-${i}`;
    records.push({
      type: SESSION_TYPE,
      id,
      version: BigInt(i + 1),
      modifiedAt: timestampFromMs(1_700_000_000_000),
      typeUrl: `type.googleapis.com/${SessionSchema.typeName}`,
      data: toBinary(SessionSchema, demo.session(id, i % Math.max(1, Math.floor(count / 10)))),
    });
  }
  return records;
}
