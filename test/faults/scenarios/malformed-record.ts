/**
 * Scenario 8: a session record whose Any bytes are garbage, among valid ones, through the real
 * server: skipped, counted, logged without its contents; sync goes on and other records arrive.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { RecordSchema } from "../../../gen/databroker/databroker_pb.js";
import { CountingMeter, LogCapture, SECRET, SESSION_TYPE, TYPES, cacheFor, population, printHealTime, session, startServer, writer, type Cleanups } from "../fault-fixtures.js";
import { awaitReplicaEqualsServer } from "../replica-equals-server.js";
import { startVanishProbe } from "../session-vanish-probe.js";

const MARKER = "garbage-marker-3f9c";
/** Not protobuf at all: field 1 with wire type 7 (there is none), then a recognisable marker. */
const GARBAGE = new Uint8Array([0x0f, ...new TextEncoder().encode(MARKER)]);
export const MALFORMED_COUNTER = "databroker.cache.malformed_records";

function garbageSession(id: string) {
  return create(RecordSchema, { type: SESSION_TYPE, id, data: create(AnySchema, { typeUrl: SESSION_TYPE, value: GARBAGE }) });
}

export default async function malformedRecord(cleanups: Cleanups): Promise<void> {
  const server = await startServer(cleanups);
  const ref = { url: server.url, sharedSecret: SECRET };
  const db = writer(server.url);
  const records = population("bad", 20);
  await db.put({ records: [...records.slice(0, 10), garbageSession("s-garbage-in-snapshot"), ...records.slice(10)] });
  const log = new LogCapture();
  const metrics = new CountingMeter();
  const cache = cacheFor(cleanups, { url: server.url, logger: log, meter: metrics.meter });
  await cache.ready({ timeoutMs: 5000 });
  const probe = startVanishProbe(cache, records.filter((r) => r.type === SESSION_TYPE).map((r) => r.id));
  cleanups.add(() => probe.stop());
  const expectAbsent = new Set([`${SESSION_TYPE}/s-garbage-in-snapshot`, `${SESSION_TYPE}/s-garbage-live`]);

  const faultAt = performance.now();
  await db.put({ records: [session("s-before-live-garbage", "u-bad-1"), garbageSession("s-garbage-live"), session("s-after-live-garbage", "u-bad-2")] });
  await awaitReplicaEqualsServer(cache, ref, TYPES, { expectAbsent });
  printHealTime("malformed", performance.now() - faultAt);
  assert.equal(cache.getSession("s-garbage-in-snapshot"), undefined);
  assert.equal(cache.get(SESSION_TYPE, "s-garbage-live"), undefined);
  assert.equal(cache.getSession("s-after-live-garbage")?.userId, "u-bad-2", "records after the garbage arrive");
  assert.ok(cache.state.streams.every((s) => s.state === "live"), "the streams stay live");

  const text = log.text();
  assert.ok(!text.includes(MARKER), "the garbage bytes are not logged");
  assert.ok(!text.includes(SECRET), "the shared secret is not logged");
  assert.ok(!text.includes("s-garbage"), "the malformed record's id is not logged");
  assert.ok(
    log.lines.some((l) => (l.level === "warn" || l.level === "error") && /malformed/i.test(l.message)),
    `a warning says a malformed record was skipped (by its version, never its id or bytes); got:\n${text}`,
  );
  assert.ok(metrics.total(MALFORMED_COUNTER) >= 2, `the ${MALFORMED_COUNTER} counter counts both (got ${metrics.total(MALFORMED_COUNTER)})`);
  assert.deepEqual(probe.stop(), [], "no probed session vanished");
}
