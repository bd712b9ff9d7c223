/**
 * Contract: bad input is refused with a status, never changes stored data, and the server keeps
 * serving afterwards (spec sections 3, 5 and 6).
 */
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { expect, it } from "vitest";

import { DataBrokerService, RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS, createDatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { parseSharedSecret, signDatabrokerJwt } from "../../src/transport/shared-secret.js";
import { expectCallError } from "./expect-error.js";
import { describeTargets, loadTargets, type TargetContext } from "./harness.js";
import { latestRecords, put, SESSION_TYPE, sessionOf, sessionRecord } from "./records.js";
import type { ConformanceTarget } from "./target.js";

const targets = await loadTargets();
const MAX_RECEIVE_BYTES = 4 * 1024 * 1024; // grpc-go's default, which Pomerium keeps

/** Sends raw bytes as the request message of any method path, through grpc-js. */
async function rawUnary(target: ConformanceTarget, path: string, body: Buffer): Promise<grpc.StatusObject> {
  const address = new URL(target.url).host;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("jwt", await signDatabrokerJwt(parseSharedSecret(target.sharedSecret)));
  try {
    return await new Promise<grpc.StatusObject>((resolve) => {
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        metadata,
        (err) => resolve(err === null ? { code: grpc.status.OK, details: "", metadata: new grpc.Metadata() } : err),
      );
    });
  } finally {
    client.close();
  }
}

/** The state a bad call must leave untouched. */
async function snapshot(ctx: TargetContext) {
  const info = await ctx.db.serverInfo({});
  const records = await latestRecords(ctx.db, "");
  return { info, records: records.map((r) => [r.type, r.id, r.version]) };
}

describeTargets(targets, "bad input", (ctx) => {
  it("refuses a request body that is not protobuf (INTERNAL) and keeps serving", async () => {
    await put(ctx.db, sessionRecord("s1"));
    const before = await snapshot(ctx);
    // Field 1 (records) claims 5 bytes but only 1 follows.
    const status = await rawUnary(ctx.target, "/databroker.DataBrokerService/Put", Buffer.from([0x0a, 0x05, 0x01]));
    expect(grpc.status[status.code]).toBe("INTERNAL");
    expect(await snapshot(ctx)).toEqual(before);
  });

  it("answers an unknown method with UNIMPLEMENTED and keeps serving", async () => {
    const status = await rawUnary(ctx.target, "/databroker.DataBrokerService/NoSuchMethod", Buffer.alloc(0));
    expect(grpc.status[status.code]).toBe("UNIMPLEMENTED");
    const other = await rawUnary(ctx.target, "/no.such.Service/Get", Buffer.alloc(0));
    expect(grpc.status[other.code]).toBe("UNIMPLEMENTED");
    expect((await ctx.db.serverInfo({})).serverVersion).not.toBe(0n);
  });

  it("refuses a request larger than 4 MiB with RESOURCE_EXHAUSTED and stores nothing", async () => {
    await put(ctx.db, sessionRecord("s1"));
    const before = await snapshot(ctx);
    const huge = sessionRecord("huge", { userId: "x".repeat(MAX_RECEIVE_BYTES + 1024) });
    await expectCallError(ctx.db.put({ records: [huge] }), Code.ResourceExhausted);
    expect(await snapshot(ctx)).toEqual(before);
  });

  it.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("refuses a 12 MiB request with RESOURCE_EXHAUSTED, and the same connection keeps serving (the SDK's %s transport)", async (implementation) => {
    // Both SDK transports lift Node's per-session memory limit, so they can take an answer that
    // arrives while most of the request is still queued (Pomerium answers before reading the rest).
    const dt = createDatabrokerTransport(ctx.target.url, { sharedSecret: ctx.target.sharedSecret, implementation });
    try {
      const db = createClient(DataBrokerService, dt.transport);
      await db.serverInfo({});
      await expectCallError(db.put({ records: [sessionRecord("huge", { userId: "x".repeat(12 * 1024 * 1024) })] }), Code.ResourceExhausted);
      await put(db, sessionRecord("after"));
      expect((await db.get({ type: SESSION_TYPE, id: "after" })).record?.id).toBe("after");
    } finally {
      await dt.close();
    }
  });

  it("accepts a request just under 4 MiB", async () => {
    const big = sessionRecord("big", { userId: "x".repeat(MAX_RECEIVE_BYTES - 64 * 1024) });
    const [stored] = await put(ctx.db, big);
    expect(stored!.id).toBe("big");
  });

  it("stores undecodable Any bytes opaquely on memory/file (postgres refuses them), and nothing breaks", async () => {
    await put(ctx.db, sessionRecord("s1", { userId: "findme" }));
    const garbage = create(RecordSchema, {
      type: SESSION_TYPE,
      id: "garbage",
      data: create(AnySchema, { typeUrl: SESSION_TYPE, value: new Uint8Array([0xff, 0xff, 0xff, 0x0a, 0x05]) }),
    });
    if (ctx.target.flavour === "postgres") {
      const before = await snapshot(ctx);
      await expect(ctx.db.put({ records: [garbage] })).rejects.toThrow();
      expect(await snapshot(ctx)).toEqual(before);
    } else {
      await put(ctx.db, garbage);
      const got = await ctx.db.get({ type: SESSION_TYPE, id: "garbage" });
      expect(got.record?.data?.value).toEqual(new Uint8Array([0xff, 0xff, 0xff, 0x0a, 0x05]));
      // Free-text search skips data it cannot decode.
      const res = await ctx.db.query({ type: SESSION_TYPE, query: "findme", limit: 10n });
      expect(res.records.map((r) => r.id)).toEqual(["s1"]);
    }
    expect(sessionOf((await ctx.db.get({ type: SESSION_TYPE, id: "s1" })).record).userId).toBe("findme");
  });

  it("refuses a malformed filter without touching data", async () => {
    await put(ctx.db, sessionRecord("s1"));
    const before = await snapshot(ctx);
    await expectCallError(ctx.db.query({ type: SESSION_TYPE, limit: 1n, filter: { $or: { id: "s1" } } }), Code.InvalidArgument);
    expect(await snapshot(ctx)).toEqual(before);
  });
});

// Pomerium answers an oversized request before reading it, while a Node client with default
// settings (connect-node, bare node:http2) still has most of it queued and counted against its
// session memory: past about 10 MB that client refuses the answer (connect-node's call hangs).
// Our server reads the rest of the request first, so every client gets the status.
describeTargets(
  targets.filter((t) => t.isOurs),
  "deviation from Pomerium: an oversized request is read to its end before the answer",
  (ctx) => {
    it("answers a 12 MiB request from a default connect-node client with RESOURCE_EXHAUSTED, and the connection keeps serving", async () => {
      await ctx.db.serverInfo({});
      await expectCallError(ctx.db.put({ records: [sessionRecord("huge", { userId: "x".repeat(12 * 1024 * 1024) })] }), Code.ResourceExhausted);
      await put(ctx.db, sessionRecord("after"));
      expect((await ctx.db.get({ type: SESSION_TYPE, id: "after" })).record?.id).toBe("after");
    });
  },
);

// Pomerium slices with a negative offset or limit and panics (the process dies), so this is only
// asked of our server, which refuses such requests instead.
describeTargets(
  targets.filter((t) => t.isOurs),
  "deviation from Pomerium (which panics): negative Query offset/limit",
  (ctx) => {
    it("answers a negative offset or limit with INVALID_ARGUMENT and keeps serving", async () => {
      await put(ctx.db, sessionRecord("s1"));
      await expectCallError(ctx.db.query({ type: SESSION_TYPE, offset: -1n, limit: 10n }), Code.InvalidArgument);
      await expectCallError(ctx.db.query({ type: SESSION_TYPE, offset: 0n, limit: -1n }), Code.InvalidArgument);
      const res = await ctx.db.query({ type: SESSION_TYPE, limit: 10n });
      expect(res.records.map((r) => r.id)).toEqual(["s1"]);
    });
  },
);
