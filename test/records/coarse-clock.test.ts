/**
 * The coarse clock behind the replica's default validity checks: one Date.now() per synchronous
 * job and per READS_PER_COARSE_READING reads, never ahead of the real clock. Date is faked (only
 * Date: promises and setImmediate stay real) so the tests can move time inside one job.
 */
import { setImmediate as nextJob } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { coarseReading, READS_PER_COARSE_READING, tickCoarseClock } from "../../src/records/clock.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE } from "../../src/records/type-urls.js";
import { Replica } from "../../src/replica/replica.js";
import { ServiceAccountSchema } from "../../gen/user/user_pb.js";
import { raw, sessionRecord, snapshot, userRecord } from "../replica/replica-fixtures.js";

const T = 1_900_000_000_000;

function read(): number {
  tickCoarseClock();
  return coarseReading[0] as number;
}

describe("coarse clock", () => {
  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(T);
    await nextJob(); // a reading left by an earlier test is stale by now
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reads the clock on the first read of a job and serves the rest of the job from that reading", () => {
    expect(read()).toBe(T);
    vi.setSystemTime(T + 5);
    expect(read()).toBe(T);
  });

  it("reads the clock again in the next job, also when the job boundary is only a microtask", async () => {
    expect(read()).toBe(T);
    vi.setSystemTime(T + 5);
    await nextJob();
    expect(read()).toBe(T + 5);
    vi.setSystemTime(T + 9);
    await Promise.resolve();
    await Promise.resolve();
    expect(read()).toBe(T + 9);
  });

  it("reads the clock again after READS_PER_COARSE_READING reads within one job", () => {
    expect(read()).toBe(T);
    vi.setSystemTime(T + 7);
    for (let i = 1; i < READS_PER_COARSE_READING; i++) expect(read()).toBe(T);
    expect(read()).toBe(T + 7);
  });

  it("is never ahead of Date.now()", async () => {
    for (let job = 0; job < 5; job++) {
      vi.setSystemTime(T + job * 1000);
      for (let i = 0; i < 3 * READS_PER_COARSE_READING; i++) {
        if (read() > Date.now()) expect.fail(`reading ahead of the clock at job ${job}, read ${i}`);
      }
      await nextJob();
    }
    expect(read()).toBe(T + 4000);
  });
});

describe("the replica's default clock (none injected)", () => {
  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(T);
    await nextJob();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hides a session from the first job whose clock reading is strictly after its expiry", async () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [sessionRecord("s1", 1n, "u1", { expiresAt: timestampFromMs(T + 1000) })], 1n));
    expect(r.getSession("s1")?.id).toBe("s1");
    vi.setSystemTime(T + 1000);
    await nextJob();
    expect(r.getSession("s1")?.id).toBe("s1"); // expiring exactly now is still valid
    vi.setSystemTime(T + 1001);
    await nextJob();
    expect(r.getSession("s1")).toBeUndefined();
    expect(r.getSession("s1", { includeInvalid: true })?.id).toBe("s1");
  });

  it("applies the service-account expiry the same way", async () => {
    const r = new Replica();
    r.apply(snapshot(SERVICE_ACCOUNT_TYPE, [raw(ServiceAccountSchema, SERVICE_ACCOUNT_TYPE, "sa", 1n, { id: "sa", userId: "u", expiresAt: timestampFromMs(T + 1) })], 1n));
    expect(r.getServiceAccount("sa")?.userId).toBe("u");
    vi.setSystemTime(T + 2);
    await nextJob();
    expect(r.getServiceAccount("sa")).toBeUndefined();
    expect(r.getServiceAccount("sa", { includeInvalid: true })?.userId).toBe("u");
  });

  it("never returns data of another type, includeInvalid or not", () => {
    const r = new Replica();
    r.apply(snapshot(SESSION_TYPE, [{ ...userRecord("x", 1n, "a@b"), type: SESSION_TYPE }], 1n));
    expect(r.getSession("x", { includeInvalid: true })).toBeUndefined();
    expect(r.getSession("x")).toBeUndefined();
    expect(r.getMessage(SESSION_TYPE, "x")?.$typeName).toBe("user.User");
  });
});
