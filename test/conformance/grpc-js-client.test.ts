/**
 * The same contract seen through an independent client: @grpc/grpc-js with our .proto files
 * loaded at runtime by @grpc/proto-loader (field names as written, 64-bit values as strings), and
 * record data encoded by protobufjs. Nothing here uses our generated code or Connect.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Code, ConnectError } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { expect, it } from "vitest";

import { startInMemoryDatabroker } from "../../src/server/index.js";
import { parseSharedSecret, signDatabrokerJwt } from "../../src/transport/shared-secret.js";
import { decodeIndependently, encodeIndependently, PROTO_DIR, PROTO_FILES, PROTOBUFJS_DIR } from "../wire/independent-codec.js";
import { expectError } from "./expect-error.js";
import { describeTargets, loadTargets } from "./harness.js";
import { SESSION_TYPE } from "./records.js";
import { StreamReader } from "./stream-reader.js";
import { randomSharedSecret } from "./targets.js";

const targets = await loadTargets();

const packageDefinition = protoLoader.loadSync([...PROTO_FILES], {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR, PROTOBUFJS_DIR],
});
const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  databroker: { DataBrokerService: grpc.ServiceClientConstructor };
};

/** Plain objects as proto-loader produces them; only the fields the tests read are typed. */
interface PlainRecord {
  version: string;
  type: string;
  id: string;
  data: { type_url: string; value: Buffer } | null;
  modified_at: { seconds: string; nanos: number } | null;
  deleted_at: { seconds: string; nanos: number } | null;
}
interface PlainStreamMessage {
  response: "record" | "versions" | "options";
  record?: PlainRecord;
  versions?: { server_version: string; latest_record_version: string };
  options?: { typeURL: string };
}

type Token = "valid" | "missing" | "wrong-key";

/** A grpc-js client whose every call carries the chosen kind of token. */
class GrpcJsDatabroker {
  private readonly client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  constructor(
    url: string,
    private readonly sharedSecret: string,
  ) {
    this.client = new loaded.databroker.DataBrokerService(new URL(url).host, grpc.credentials.createInsecure()) as never;
  }

  async metadata(token: Token): Promise<grpc.Metadata> {
    const md = new grpc.Metadata();
    if (token === "valid") md.set("jwt", await signDatabrokerJwt(parseSharedSecret(this.sharedSecret)));
    if (token === "wrong-key") md.set("jwt", await signDatabrokerJwt(new Uint8Array(randomBytes(32))));
    return md;
  }

  async unary<Res>(method: string, req: object, token: Token = "valid"): Promise<Res> {
    const md = await this.metadata(token);
    return new Promise<Res>((resolve, reject) => {
      const fn = this.client[method]!.bind(this.client);
      fn(req, md, (err: grpc.ServiceError | null, res: Res) => (err === null ? resolve(res) : reject(err)));
    });
  }

  async stream(method: "Sync" | "SyncLatest", req: object, token: Token = "valid"): Promise<StreamReader<PlainStreamMessage>> {
    const md = await this.metadata(token);
    return new StreamReader<PlainStreamMessage>((signal) => {
      const call = this.client[method]!.call(this.client, req, md) as grpc.ClientReadableStream<PlainStreamMessage>;
      signal.addEventListener("abort", () => call.cancel());
      return call;
    }, grpcError);
  }

  close(): void {
    this.client.close();
  }
}

function grpcError(e: unknown): ConnectError {
  const err = e as Partial<grpc.ServiceError>;
  // gRPC status numbers and Connect codes are the same numbering.
  if (typeof err.code === "number") return new ConnectError(err.details ?? "", Number(err.code) as Code);
  return ConnectError.from(e);
}

async function expectGrpcError(call: Promise<unknown>, code: Code, message: string): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => grpcError(e),
  );
  if (error === undefined) throw new Error(`expected ${Code[code]}, the call succeeded`);
  expectError(error, code, message);
}

function sessionPut(id: string, userId: string) {
  return {
    type: SESSION_TYPE,
    id,
    data: { type_url: SESSION_TYPE, value: Buffer.from(encodeIndependently("session.Session", { id, user_id: userId })) },
  };
}

describeTargets(targets, "independent grpc-js client", (ctx) => {
  let db: GrpcJsDatabroker;
  const open = () => {
    db = new GrpcJsDatabroker(ctx.target.url, ctx.target.sharedSecret);
    return db;
  };

  it("puts and gets a session record; versions arrive as exact decimal strings", async () => {
    open();
    try {
      const info = await db.unary<{ server_version: string; latest_record_version: string }>("ServerInfo", {});
      expect(info.server_version).toMatch(/^[1-9][0-9]*$/);
      expect(BigInt(info.server_version)).toBe((await ctx.db.serverInfo({})).serverVersion);

      const put = await db.unary<{ server_version: string; records: PlainRecord[] }>("Put", {
        records: [{ ...sessionPut("s1", "u1"), version: "12345" }],
      });
      expect(put.server_version).toBe(info.server_version);
      expect(put.records).toHaveLength(1);
      expect(put.records[0]!.version).not.toBe("12345");
      const version = put.records[0]!.version;

      const got = await db.unary<{ record: PlainRecord }>("Get", { type: SESSION_TYPE, id: "s1" });
      expect(got.record.version).toBe(version);
      expect(got.record.deleted_at).toBeNull();
      expect(got.record.data?.type_url).toBe(SESSION_TYPE);
      expect(decodeIndependently("session.Session", got.record.data!.value)).toEqual({ id: "s1", user_id: "u1" });

      // Cross-check with our generated client: same record, same version.
      const ours = await ctx.db.get({ type: SESSION_TYPE, id: "s1" });
      expect(ours.record?.version).toBe(BigInt(version));

      await expectGrpcError(db.unary("Get", { type: SESSION_TYPE, id: "nope" }), Code.NotFound, "record not found");
    } finally {
      db.close();
    }
  });

  it("reads SyncLatest: records sorted by id, then one versions message, last", async () => {
    open();
    try {
      await db.unary("Put", { records: [sessionPut("b", "u"), sessionPut("a", "u")] });
      const reader = await db.stream("SyncLatest", { type: SESSION_TYPE });
      const msgs = await reader.drain();
      expect(msgs.map((m) => m.response)).toEqual(["record", "record", "versions"]);
      expect(msgs.slice(0, 2).map((m) => m.record!.id)).toEqual(["a", "b"]);
      const info = await db.unary<{ server_version: string; latest_record_version: string }>("ServerInfo", {});
      expect(msgs[2]!.versions).toEqual({ server_version: info.server_version, latest_record_version: info.latest_record_version });
    } finally {
      db.close();
    }
  });

  it("reads a Sync backlog with wait=false, and a later Put on a waiting Sync", async () => {
    open();
    try {
      const put = await db.unary<{ server_version: string; records: PlainRecord[] }>("Put", { records: [sessionPut("s1", "u")] });
      const from = (BigInt(put.records[0]!.version) - 1n).toString();
      const backlog = await (await db.stream("Sync", { server_version: put.server_version, record_version: from, wait: false })).drain();
      expect(backlog.map((m) => [m.response, m.record?.id])).toEqual([["record", "s1"]]);

      const waiting = await db.stream("Sync", { server_version: put.server_version, record_version: put.records[0]!.version });
      try {
        await waiting.expectSilence(200);
        await db.unary("Put", { records: [sessionPut("s2", "u")] });
        const msg = await waiting.next();
        expect([msg.response, msg.record?.id]).toEqual(["record", "s2"]);
      } finally {
        waiting.cancel();
      }
    } finally {
      db.close();
    }
  });

  it('gets ABORTED "invalid server version" for a wrong server version, and CANCELLED when Clear ends a Sync', async () => {
    open();
    try {
      const info = await db.unary<{ server_version: string; latest_record_version: string }>("ServerInfo", {});
      const wrong = (BigInt(info.server_version) ^ 1n).toString();
      const aborted = await (await db.stream("Sync", { server_version: wrong, record_version: "0" })).failure();
      expectError(aborted.error, Code.Aborted, "invalid server version");

      const put = await db.unary<{ server_version: string; records: PlainRecord[] }>("Put", { records: [sessionPut("s1", "u")] });
      const from = (BigInt(put.records[0]!.version) - 1n).toString();
      const reader = await db.stream("Sync", { server_version: put.server_version, record_version: from });
      try {
        expect((await reader.next()).record?.id).toBe("s1");
        await reader.expectSilence(100);
        const cleared = await db.unary<{ old_server_version: string; new_server_version: string }>("Clear", {});
        expect(cleared.old_server_version).toBe(put.server_version);
        const { error } = await reader.failure();
        expectError(error, Code.Canceled);
      } finally {
        reader.cancel();
      }
    } finally {
      db.close();
    }
  });

  it('is refused without a token ("unauthenticated") and with a token signed by another key ("invalid JWT")', async () => {
    open();
    try {
      await expectGrpcError(db.unary("ServerInfo", {}, "missing"), Code.Unauthenticated, "unauthenticated");
      await expectGrpcError(db.unary("Put", { records: [sessionPut("s1", "u")] }, "wrong-key"), Code.Unauthenticated, "invalid JWT");
      const refused = await (await db.stream("SyncLatest", { type: "" }, "wrong-key")).failure();
      expectError(refused.error, Code.Unauthenticated, "invalid JWT");
      await expectGrpcError(db.unary("Get", { type: SESSION_TYPE, id: "s1" }), Code.NotFound, "record not found");
    } finally {
      db.close();
    }
  });
});

it("ours via grpc-js: a server version of 2^64-5 arrives and is accepted back as the exact decimal string", async () => {
  const sharedSecret = randomSharedSecret();
  const server = await startInMemoryDatabroker({ sharedSecret, port: 0, serverVersion: 2n ** 64n - 5n });
  const db = new GrpcJsDatabroker(server.url, sharedSecret);
  try {
    const info = await db.unary<{ server_version: string }>("ServerInfo", {});
    expect(info.server_version).toBe("18446744073709551611");
    await db.unary("Put", { records: [sessionPut("s1", "u")] });
    const backlog = await (await db.stream("Sync", { server_version: "18446744073709551611", record_version: "0", wait: false })).drain();
    expect(backlog.map((m) => m.record?.id)).toEqual(["s1"]);
  } finally {
    db.close();
    await server.close();
  }
});
