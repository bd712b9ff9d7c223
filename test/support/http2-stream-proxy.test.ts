/** The HTTP/2 stream proxy on its own, in front of our in-memory databroker, with a Connect client. */
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { RecordSchema, type SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { startInMemoryDatabroker } from "../../src/server/index.js";
import { databrokerClients } from "../server/databroker-client.js";
import { startHttp2StreamProxy } from "./http2-stream-proxy.js";
import { until } from "./wait-until.js";

const SECRET = randomBytes(32).toString("base64");
const TYPE_A = "type.googleapis.com/test.A";
const TYPE_B = "type.googleapis.com/test.B";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(idleEndMs?: number) {
  const server = await startInMemoryDatabroker({ sharedSecret: SECRET });
  cleanups.push(() => server.close());
  const proxy = await startHttp2StreamProxy(server.url, { idleEndMs });
  cleanups.push(() => proxy.close());
  const direct = databrokerClients(server.url, SECRET).databroker;
  const viaProxy = databrokerClients(proxy.url, SECRET).databroker;
  const put = async (type: string, id: string) =>
    (await direct.put({ records: [create(RecordSchema, { type, id, data: create(AnySchema, { typeUrl: type, value: new TextEncoder().encode(id) }) })] })).records[0]!.version;
  return { server, proxy, direct, viaProxy, put };
}

/** Reads a Sync stream in the background: what it received (with when), and how it ended. */
function reading(stream: AsyncIterable<SyncResponse>) {
  const received: { id: string; at: number }[] = [];
  const ended = (async () => {
    try {
      for await (const res of stream) if (res.response.case === "record") received.push({ id: res.response.value.id, at: performance.now() });
      return { error: undefined, at: performance.now() };
    } catch (error) {
      return { error: ConnectError.from(error), at: performance.now() };
    }
  })();
  return { received, ended };
}

describe("HTTP/2 stream proxy", () => {
  it("forwards unary and streaming calls and records each stream's method, type and position", async () => {
    const { server, proxy, viaProxy, put } = await setUp();
    const v1 = await put(TYPE_A, "a1");
    const putViaProxy = await viaProxy.put({ records: [create(RecordSchema, { type: TYPE_A, id: "a2", data: create(AnySchema, { typeUrl: TYPE_A }) })] });
    expect(putViaProxy.records[0]!.version).toBe(v1 + 1n);
    const latest: string[] = [];
    for await (const res of viaProxy.syncLatest({ type: TYPE_A })) if (res.response.case === "record") latest.push(res.response.value.id);
    expect(latest.sort()).toEqual(["a1", "a2"]);

    const abort = new AbortController();
    const sync = reading(viaProxy.sync({ serverVersion: server.serverVersion, recordVersion: v1 + 1n, type: TYPE_A }, { signal: abort.signal }));
    await until(() => proxy.open("Sync", TYPE_A).length === 1, "the Sync stream open at the proxy");
    await put(TYPE_A, "a3");
    await until(() => sync.received.length === 1, "a change through the proxy");
    expect(sync.received[0]!.id).toBe("a3");
    abort.abort();
    await sync.ended;
    await until(() => proxy.open("Sync").length === 0, "the Sync stream closed at the proxy");

    expect(proxy.streams.map((s) => [s.method, s.type, s.outcome])).toEqual([
      ["Put", undefined, "answered"],
      ["SyncLatest", TYPE_A, "answered"],
      ["Sync", TYPE_A, "client-gone"],
    ]);
    expect(proxy.streams[2]!.recordVersion).toBe(v1 + 1n);
    expect(proxy.streams[1]!.grpcStatus).toBe(0);
    expect(proxy.count("Sync", TYPE_A)).toBe(1);
    expect(proxy.count("Sync", TYPE_B)).toBe(0);
  });

  it("passes an error status on (trailers-only) without touching it", async () => {
    const { proxy } = await setUp();
    const wrong = databrokerClients(proxy.url, randomBytes(32).toString("base64")).databroker;
    const error = await wrong.serverInfo({}).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(proxy.streams[0]).toMatchObject({ method: "ServerInfo", outcome: "answered", grpcStatus: Code.Unauthenticated, grpcMessage: error?.rawMessage });
  });

  it("resets one stream with RST_STREAM while the other streams on the same connection go on", async () => {
    const { server, proxy, viaProxy, put } = await setUp();
    const position = await put(TYPE_A, "seed");
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const a = reading(viaProxy.sync({ serverVersion: server.serverVersion, recordVersion: position, type: TYPE_A }, { signal: abort.signal }));
    const b = reading(viaProxy.sync({ serverVersion: server.serverVersion, recordVersion: position, type: TYPE_B }, { signal: abort.signal }));
    await until(() => proxy.open("Sync").length === 2 && proxy.open("Sync").every((s) => s.type !== undefined), "both Sync streams open");

    proxy.reset(proxy.open("Sync", TYPE_A)[0]!);
    const endedA = await a.ended;
    // connect-node passes on Node's error for the peer's RST_STREAM, which names the code.
    expect(endedA.error?.rawMessage).toMatch(/closed with error code (NGHTTP2_)?INTERNAL_ERROR/);
    await put(TYPE_B, "b-after-reset");
    await until(() => b.received.some((r) => r.id === "b-after-reset"), "the other stream still delivers");
    // The two calls start together, so the proxy may see either stream first: compare by type.
    const outcomes = proxy.streams.filter((s) => s.method === "Sync").map((s) => [s.type, s.outcome]);
    expect(outcomes.sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual([
      [TYPE_A, "reset-by-proxy"],
      [TYPE_B, "open"],
    ]);
  });

  it("ends a stream idle for idleEndMs cleanly (grpc-status 0), with or without headers sent, and not before", async () => {
    const IDLE_MS = 200;
    // Node's timers count whole milliseconds from their own clock: one can fire up to ~1 ms
    // earlier than performance.now() says.
    const TIMER_SLACK_MS = 2;
    const { server, proxy, viaProxy, put } = await setUp(IDLE_MS);
    const position = await put(TYPE_A, "seed");

    // Nothing ever sent on it: the proxy answers trailers-only.
    const silent = reading(viaProxy.sync({ serverVersion: server.serverVersion, recordVersion: position, type: TYPE_B }));
    const silentEnd = await silent.ended;
    expect(silentEnd.error).toBeUndefined();
    const first = proxy.streams.find((s) => s.method === "Sync")!;
    expect(first).toMatchObject({ type: TYPE_B, outcome: "idle-ended", grpcStatus: 0 });
    expect(first.closedAt! - first.lastActivityAt).toBeGreaterThanOrEqual(IDLE_MS - TIMER_SLACK_MS);

    // Changes keep it busy; once they stop, it ends IDLE_MS after the last one (trailers after data).
    const busy = reading(viaProxy.sync({ serverVersion: server.serverVersion, recordVersion: position, type: TYPE_A }));
    for (let i = 0; i < 4; i++) {
      await put(TYPE_A, `a${i}`);
      await until(() => busy.received.length === i + 1, `change a${i}`);
    }
    const busyEnd = await busy.ended;
    expect(busyEnd.error).toBeUndefined();
    expect(busy.received.map((r) => r.id)).toEqual(["a0", "a1", "a2", "a3"]);
    const second = proxy.streams.filter((s) => s.method === "Sync")[1]!;
    expect(second).toMatchObject({ type: TYPE_A, outcome: "idle-ended", grpcStatus: 0 });
    expect(second.closedAt! - second.lastActivityAt).toBeGreaterThanOrEqual(IDLE_MS - TIMER_SLACK_MS);
    expect(second.lastActivityAt).toBeGreaterThanOrEqual(busy.received.at(-1)!.at - 50); // the last change was activity
  });

  it("holds one stream's response until released: nothing reaches the client meanwhile, nothing is lost, other streams go on", async () => {
    const ctx = await setUp();
    const { proxy, direct, put } = ctx;
    const [a, b] = await openSyncs(ctx, [TYPE_A, TYPE_B] as const);
    const held = proxy.open("Sync", TYPE_A)[0]!;
    proxy.hold(held);
    const ids = await putLarge(direct, TYPE_A, "held", HELD_RECORDS);
    await put(TYPE_B, "b-while-held");
    await until(() => b.received.some((r) => r.id === "b-while-held"), "the other stream still delivers");
    expect(a.received).toEqual([]);

    proxy.release(held);
    await until(() => a.received.length === ids.length, "every held change after the release", 10_000);
    expect(a.received.map((r) => r.id)).toEqual(ids);
  });

  it("makes the server's writes wait while held: a compaction meanwhile removes changes the stream had not sent yet", async () => {
    const ctx = await setUp();
    const { server, proxy, direct, put } = ctx;
    const [a] = await openSyncs(ctx, [TYPE_A] as const);
    const held = proxy.open("Sync", TYPE_A)[0]!;
    proxy.hold(held);
    const ids = await putLarge(direct, TYPE_A, "held", HELD_RECORDS);
    await put(TYPE_A, "newest");
    server.compactNow();
    proxy.release(held);
    await until(() => a.received.some((r) => r.id === "newest"), "the newest change after the release", 10_000);
    // Had the server written everything into buffers, every change would arrive; it sent what it
    // had read before the hold filled the windows, then skipped to what the compaction kept.
    const got = a.received.map((r) => r.id);
    expect(got.at(-1)).toBe("newest");
    expect(got.length - 1).toBeGreaterThan(0);
    expect(got.length - 1).toBeLessThan(ids.length);
    expect(got.slice(0, -1)).toEqual(ids.slice(0, got.length - 1));
    expect(proxy.open("Sync", TYPE_A)).toEqual([held]); // no ABORTED: the stream just went on
  });
});

/** Opens a Sync stream through the proxy for each type, from a fresh position; resolves once the proxy has read each request. */
async function openSyncs<T extends readonly string[]>(ctx: Awaited<ReturnType<typeof setUp>>, types: T): Promise<{ [K in keyof T]: ReturnType<typeof reading> }> {
  const position = await ctx.put(TYPE_A, "seed");
  const abort = new AbortController();
  cleanups.push(() => abort.abort());
  const readers = types.map((type) => reading(ctx.viaProxy.sync({ serverVersion: ctx.server.serverVersion, recordVersion: position, type }, { signal: abort.signal })));
  await until(() => types.every((type) => ctx.proxy.open("Sync", type).length === 1), "the Sync streams open at the proxy");
  return readers as { [K in keyof T]: ReturnType<typeof reading> };
}

/** Enough data to fill HTTP/2's default flow-control windows (64 KiB) many times over. */
const HELD_RECORDS = 300;
const HELD_RECORD_BYTES = 4096;

/** Puts `count` records of HELD_RECORD_BYTES each in one Put; returns their ids in version order. */
async function putLarge(client: ReturnType<typeof databrokerClients>["databroker"], type: string, prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);
  const value = new Uint8Array(HELD_RECORD_BYTES).fill(120);
  await client.put({ records: ids.map((id) => create(RecordSchema, { type, id, data: create(AnySchema, { typeUrl: type, value }) })) });
  return ids;
}
