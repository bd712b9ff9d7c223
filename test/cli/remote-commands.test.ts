import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Server as GrpcServer, ServerCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecordSchema } from "../../gen/databroker/databroker_pb.js";
import { DemoRecords } from "../../src/demo/demo-records.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import { createDatabrokerTransport, type DatabrokerTransport } from "../../src/transport/databroker-transport.js";
import { cli, startCli } from "./cli-process.js";

const secret = randomBytes(32).toString("base64");
const dir = mkdtempSync(join(tmpdir(), "cli-remote-"));
const secretFile = join(dir, "secret");
writeFileSync(secretFile, secret);
const wrongSecretFile = join(dir, "wrong-secret");
writeFileSync(wrongSecretFile, randomBytes(32).toString("base64"));

let server: RunningInMemoryDatabroker;
let connection: DatabrokerTransport;
const demo = new DemoRecords({ seed: 3 });

beforeAll(async () => {
  server = await startInMemoryDatabroker({ sharedSecret: secret });
  connection = createDatabrokerTransport(server.url, { sharedSecret: secret });
  const client = createDataBrokerClient(connection.transport);
  await client.put({
    records: [
      DemoRecords.record(demo.user(1)),
      DemoRecords.record(demo.user(2)),
      DemoRecords.record(demo.session("s-1", 1)),
      DemoRecords.record(demo.session("s-2", 1)),
      DemoRecords.record(demo.session("s-3", 2)),
    ],
  });
});

afterAll(async () => {
  connection.close();
  await server.close();
});

const remote = () => ["--url", server.url, "--shared-secret-file", secretFile];

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe("get and query print protobuf JSON", () => {
  it("get session ID prints the record with its data expanded by type", async () => {
    const { code, stdout, stderr } = await cli("get", "session", "s-2", ...remote());
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const record = JSON.parse(stdout);
    expect(record).toMatchObject({ type: "type.googleapis.com/session.Session", id: "s-2" });
    expect(record.data["@type"]).toBe("type.googleapis.com/session.Session");
    expect(record.data.userId).toBe("user-1");
    expect(record.version).toMatch(/^\d+$/);
  });

  it("get user ID of a missing user prints one line and exits 1", async () => {
    const { code, stdout, stderr } = await cli("get", "user", "nobody", ...remote());
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim()).toBe(`databroker-cache: no type.googleapis.com/user.User record with id "nobody"`);
  });

  it("query with a filter returns the matching records and the total count", async () => {
    const { code, stdout, stderr } = await cli("query", "session", "--filter", `{"$or":[{"id":"s-1"},{"id":"s-2"},{"id":"nope"}]}`, "--limit", "10", ...remote());
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const response = JSON.parse(stdout);
    expect(response.totalCount).toBe("2");
    expect(response.records.map((r: { id: string }) => r.id).sort()).toEqual(["s-1", "s-2"]);
  });

  it("query --search matches free text", async () => {
    const { code, stdout } = await cli("query", "type.googleapis.com/user.User", "--search", "user-2", "--limit", "5", ...remote());
    expect(code).toBe(0);
    expect(JSON.parse(stdout).records.map((r: { id: string }) => r.id)).toEqual(["user-2"]);
  });

  it.each([
    [`{"$not":{"id":"s-1"}}`, "logical operator not supported: not"],
    [`{"user_id":{"$startsWith":"user-"}}`, "operator not supported: startsWith"],
  ])("query --filter %s: the operator is unsupported (the server's reason), not a wrong server", async (filter, reason) => {
    const { code, stdout, stderr } = await cli("query", "session", "--filter", filter, ...remote());
    expect(stdout).toBe("");
    expect(stderr.trim()).toBe(
      `databroker-cache: --filter uses an operator the databroker at ${server.url} does not support (${reason}); equality, $and and $or work on every storage`,
    );
    expect(code).toBe(2);
  });

  it("query --filter that is not JSON is a user error", async () => {
    const { code, stderr } = await cli("query", "session", "--filter", "{user_id:", ...remote());
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("--filter is not valid JSON");
  });
});

describe("watch prints NDJSON change batches", () => {
  it("prints the snapshot, then each change as one JSON line", async () => {
    const watch = startCli("watch", "session", "--max-batches", "2", ...remote());
    await watch.waitForOutput(/"kind":"snapshot"/);
    const client = createDataBrokerClient(connection.transport);
    await client.put({ records: [create(RecordSchema, { type: "type.googleapis.com/session.Session", id: "s-3", deletedAt: timestampNow() })] });
    expect(await watch.exited).toBe(0);
    const lines = watch.stdout().trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0].kind).toBe("snapshot");
    expect(lines[0].upserts.map((r: { id: string }) => r.id).sort()).toEqual(["s-1", "s-2", "s-3"]);
    expect(lines[0].upserts[0].data["@type"]).toBeUndefined();
    expect(lines[0].upserts[0].data.userId).toMatch(/^user-/);
    expect(lines[1]).toMatchObject({ kind: "change", type: "type.googleapis.com/session.Session", upserts: [], deletes: [{ id: "s-3" }] });
    // Put it back for the other tests.
    await client.put({ records: [DemoRecords.record(demo.session("s-3", 2))] });
  });
});

describe("watch without a type", () => {
  it("mirrors every type on one stream: the snapshot holds users and sessions", async () => {
    const { code, stdout, stderr } = await cli("watch", "--max-batches", "1", ...remote());
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
    const ids = lines.flatMap((l: { upserts: Array<{ id: string }> }) => l.upserts.map((r) => r.id)).sort();
    expect(lines[0].kind).toBe("snapshot");
    expect(ids).toEqual(expect.arrayContaining(["s-1", "s-2", "user-1", "user-2"]));
  });
});

describe("mirror shows the live status against a running databroker", () => {
  it("syncs with a progress bar and prints status lines until --duration-ms", async () => {
    const { code, stdout, stderr } = await cli("mirror", ...remote(), "--type", "session", "--type", "user", "--duration-ms", "1500", "--interval-ms", "400");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/initial sync \[#+\] 100% 5\/5/);
    expect(stdout).toMatch(/^status .*session\.Session=3 user\.User=2 /m);
    expect(stdout).toMatch(/stopped: cache closed\n$/);
  });
});

describe("mirror --snapshot", () => {
  it("keeps an encrypted snapshot, and the next run resumes from it and says so", async () => {
    const path = join(dir, "mirror.snapshot");
    const first = await cli("mirror", ...remote(), "--type", "session", "--snapshot", path, "--duration-ms", "800", "--interval-ms", "400");
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/cache ready: first snapshots loaded in/);
    const second = await cli("mirror", ...remote(), "--type", "session", "--snapshot", path, "--duration-ms", "800", "--interval-ms", "400");
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/cache ready: resumed from snapshot \(age \d+\.\d s\), caught up in /);
    expect(second.stdout).toMatch(/^status .*session\.Session=3 /m);
  });
});

describe("connection problems are one line saying what to fix", () => {
  it("a wrong shared secret", async () => {
    const { code, stdout, stderr } = await cli("mirror", "--url", server.url, "--shared-secret-file", wrongSecretFile);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain(`the databroker at ${server.url} rejected our token`);
    expect(stderr).toContain("--shared-secret-file must hold the same shared_secret as Pomerium");
  });

  it("an unreachable URL", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const { code, stderr } = await cli("query", "session", "--url", url, "--shared-secret-file", secretFile);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      `databroker-cache: cannot reach a databroker at ${url}: nothing listens on that host and port (connection refused): check the URL's port and that the databroker is running`,
    );
  });

  it("a plain HTTP/1 server says it is not the databroker's gRPC port (not \"Protocol error\")", async () => {
    const web = createHttpServer((_req, res) => res.end("hello"));
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(web.address() as { port: number }).port}`;
    try {
      const { code, stdout, stderr } = await cli("get", "user", "user-1", "--url", url, "--shared-secret-file", secretFile);
      expect(stdout).toBe("");
      expect(stderr.trim()).toBe(
        `databroker-cache: cannot reach a databroker at ${url}: the server did not answer in HTTP/2 (an HTTP/1.x server or another protocol listens there): point the URL at the databroker's gRPC port`,
      );
      expect(code).toBe(2);
    } finally {
      await new Promise((resolve) => web.close(resolve));
    }
  });

  it("a gRPC server without the databroker service is not a databroker", async () => {
    // grpc-js's own server, serving nothing: it answers UNIMPLEMENTED in its own words.
    const other = new GrpcServer();
    const port = await new Promise<number>((resolve, reject) =>
      other.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const url = `http://127.0.0.1:${port}`;
    try {
      const { code, stderr } = await cli("query", "session", "--url", url, "--shared-secret-file", secretFile);
      expect(stderr.trim()).toBe(
        `databroker-cache: ${url} answered but does not serve the databroker API (The server does not implement the method /databroker.DataBrokerService/ServerInfo): point --url at the databroker's gRPC port`,
      );
      expect(code).toBe(2);
    } finally {
      other.forceShutdown();
    }
  });

  it("an unreachable first URL falls over to the next one", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const { code, stdout } = await cli("get", "user", "user-1", "--url", url, ...remote());
    expect(code).toBe(0);
    expect(JSON.parse(stdout).id).toBe("user-1");
  });
});
