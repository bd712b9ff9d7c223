/** Metrics (Pomerium's databroker.syncer.* names) and the logger hook, against a real databroker. */
import type { Attributes, Meter } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { SESSION_TYPE, USER_TYPE, versionOfWrite, type DatabrokerCacheLogger } from "../../src/index.js";
import { Cleanups, SECRET, cacheFor, session, startServer, until, user, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface Point {
  readonly name: string;
  readonly value: number;
  readonly attributes: Attributes | undefined;
}

/** A meter that records every measurement: the SDK side is the host's, so a recorder is enough. */
function recordingMeter(): { meter: Meter; points: Point[] } {
  const points: Point[] = [];
  const instrument = (name: string) => {
    const record = (value: number, attributes?: Attributes) => points.push({ name, value, attributes });
    return { add: record, record };
  };
  const meter = {
    createGauge: instrument,
    createCounter: instrument,
    createHistogram: instrument,
    createUpDownCounter: instrument,
  } as unknown as Meter;
  return { meter, points };
}

const sum = (points: Point[], name: string, recordType: string) =>
  points.filter((p) => p.name === name && p.attributes?.["record-type"] === recordType).reduce((a, p) => a + p.value, 0);
const last = (points: Point[], name: string, recordType: string) =>
  points.filter((p) => p.name === name && p.attributes?.["record-type"] === recordType).at(-1)?.value;

describe("metrics", () => {
  it("records Pomerium's syncer metrics per record type", async () => {
    const server = await startServer(cleanups);
    const db = writer(server.url);
    await db.put({ records: [session("s1", "u1"), session("s2", "u1"), user("u1", "a@example.com")] });
    const { meter, points } = recordingMeter();
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE, USER_TYPE], meter });
    await cache.ready({ timeoutMs: 5000 });
    await until(() => last(points, "databroker.syncer.active", "session.Session") === 1, "session stream live");
    const v = versionOfWrite(await db.put({ records: [session("s3", "u1")] }));
    await cache.waitForVersion(v, { type: SESSION_TYPE, timeoutMs: 5000 });

    expect(sum(points, "databroker.syncer.sync_latest.total", "session.Session")).toBe(1);
    expect(sum(points, "databroker.syncer.sync_latest.total", "user.User")).toBe(1);
    expect(sum(points, "databroker.syncer.sync_latest.failures", "session.Session")).toBe(0);
    expect(sum(points, "databroker.syncer.update_records.total", "session.Session")).toBe(3);
    expect(sum(points, "databroker.syncer.update_records.total", "user.User")).toBe(1);
    expect(points.some((p) => p.name === "databroker.syncer.update_records.duration" && p.value >= 0)).toBe(true);
    // Opening the Sync stream and the batch that carried s3.
    expect(sum(points, "databroker.syncer.sync.total", "session.Session")).toBeGreaterThanOrEqual(2);
    expect(last(points, "databroker.syncer.server_version", "session.Session")).toBe(Number(server.serverVersion));
    expect(last(points, "databroker.syncer.latest_record_version", "session.Session")).toBe(Number(v.recordVersion));
    expect(points.every((p) => p.attributes !== undefined && Object.keys(p.attributes).join() === "record-type")).toBe(true);
  });

  it("counts subscriber overflows", async () => {
    const server = await startServer(cleanups);
    const { meter, points } = recordingMeter();
    const cache = cacheFor(cleanups, server.url, { types: [SESSION_TYPE], meter, subscriberBufferSize: 1 });
    cache.changes(SESSION_TYPE)[Symbol.asyncIterator](); // never pulled
    await cache.ready({ timeoutMs: 5000 });
    const v = versionOfWrite(await writer(server.url).put({ records: [session("s1", "u1")] }));
    await cache.waitForVersion(v, { timeoutMs: 5000 });
    expect(sum(points, "databroker.cache.subscriber_overflows", "session.Session")).toBe(1);
  });
});

describe("logger", () => {
  it("reports lifecycle and failures at their levels without secrets or record contents", async () => {
    const server = await startServer(cleanups);
    const lines: Array<{ level: string; message: string; attributes: unknown }> = [];
    const logger: DatabrokerCacheLogger = {
      debug: (message, attributes) => lines.push({ level: "debug", message, attributes }),
      info: (message, attributes) => lines.push({ level: "info", message, attributes }),
      warn: (message, attributes) => lines.push({ level: "warn", message, attributes }),
      error: (message, attributes) => lines.push({ level: "error", message, attributes }),
    };
    const marker = "ACCESS-TOKEN-d3adb33f";
    await writer(server.url).put({ records: [session("s1", "u1", { oauthToken: { accessToken: marker } })] });

    const good = cacheFor(cleanups, server.url, { types: [SESSION_TYPE], logger });
    await good.ready({ timeoutMs: 5000 });
    expect(good.getSession("s1")?.oauthToken?.accessToken).toBe(marker);
    await good.close();
    expect(lines.filter((l) => l.level === "info").map((l) => l.message)).toEqual([
      "databroker cache starting",
      "databroker cache ready",
      "databroker cache closed",
    ]);

    const wrongSecret = Buffer.alloc(32, 9).toString("base64");
    const bad = cacheFor(cleanups, server.url, { types: [SESSION_TYPE], logger, sharedSecret: wrongSecret });
    await until(() => lines.some((l) => l.level === "warn"), "a warning");
    await bad.close();
    const warning = lines.find((l) => l.level === "warn")!;
    expect(warning.message).toMatch(/sharedSecret/);

    const everything = JSON.stringify(lines);
    for (const secret of [SECRET, wrongSecret, marker]) expect(everything).not.toContain(secret);
  });

  it("survives a logger that throws", async () => {
    const server = await startServer(cleanups);
    const cache = cacheFor(cleanups, server.url, {
      types: [SESSION_TYPE],
      logger: {
        info: () => {
          throw new Error("broken logger");
        },
      },
    });
    await cache.ready({ timeoutMs: 5000 });
    expect(cache.isReady).toBe(true);
  });
});
