/**
 * isUnknownMethodAnswer tells "this server has no such method" (a wrong URL) from "this
 * databroker cannot do what was asked" (an unsupported filter operator), from real answers:
 * Pomerium's grpc-go server, our in-memory databroker, a grpc-js server and a plain HTTP/2
 * server, over both transports. Then the CLI's message for an unsupported operator, from Pomerium.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer as createHttp2Server, type Http2Server } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Transport } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Server as GrpcServer, ServerCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { isUnknownMethodAnswer, serverReason } from "../../src/cli/unknown-method-answer.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../../src/server/index.js";
import { createDataBrokerClient } from "../../src/transport/databroker-clients.js";
import {
  DATABROKER_TRANSPORT_IMPLEMENTATIONS,
  createDatabrokerTransport,
  type DatabrokerTransport,
  type DatabrokerTransportImplementation,
} from "../../src/transport/databroker-transport.js";
import { requirePomeriumOrExplain } from "../interop/interop-availability.js";
import { startPomerium, type PomeriumInstance } from "../support/pomerium-harness.js";
import { cli } from "./cli-process.js";

const SECRET = randomBytes(32).toString("base64");
let pomerium: PomeriumInstance;
let databroker: RunningInMemoryDatabroker;
let grpcJsServer: GrpcServer;
let grpcJsUrl = "";
let web: Http2Server;
let webUrl = "";
const transports: DatabrokerTransport[] = [];

beforeAll(async () => {
  await requirePomeriumOrExplain();
  pomerium = await startPomerium({ storage: "memory", sharedSecret: SECRET, name: "unknown-method" });
  databroker = await startInMemoryDatabroker({ sharedSecret: SECRET });
  grpcJsServer = new GrpcServer();
  const port = await new Promise<number>((resolve, reject) =>
    grpcJsServer.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  grpcJsUrl = `http://127.0.0.1:${port}`;
  web = createHttp2Server((_req, res) => {
    res.writeHead(404);
    res.end("not found");
  });
  await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
  webUrl = `http://127.0.0.1:${(web.address() as { port: number }).port}`;
}, 30 * 60_000);

afterAll(async () => {
  await Promise.all(transports.map((t) => t.close()));
  grpcJsServer?.forceShutdown();
  await new Promise((resolve) => web?.close(resolve));
  await databroker?.close();
  await pomerium?.stop();
});

function transportFor(url: string, implementation: DatabrokerTransportImplementation): Transport {
  const transport = createDatabrokerTransport(url, { sharedSecret: SECRET, implementation });
  transports.push(transport);
  return transport.transport;
}

/** ServerInfo's shape under another service or method name: a call the server does not serve. */
async function failureOfCallTo(transport: Transport, service: string, method: string): Promise<ConnectError> {
  const serverInfo = DataBrokerService.method.serverInfo;
  const target = { ...serverInfo, name: method, parent: { ...DataBrokerService, typeName: service } } as typeof serverInfo;
  try {
    await transport.unary(target, undefined, 10_000, undefined, {});
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error(`/${service}/${method} answered`);
}

async function failureOfQuery(transport: Transport, filter: Record<string, unknown>): Promise<ConnectError> {
  try {
    await createDataBrokerClient(transport).query({ type: SESSION_TYPE, filter: filter as never, limit: 10n });
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error(`the query ${JSON.stringify(filter)} succeeded`);
}

describe.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("UNIMPLEMENTED answers (%s)", (implementation) => {
  const databrokers = () => [
    ["Pomerium", pomerium.url],
    ["the in-memory databroker", databroker.url],
  ] as const;

  it("an unknown service or method is an unknown-method answer, from Pomerium and from the in-memory databroker", async () => {
    for (const [name, url] of databrokers()) {
      const transport = transportFor(url, implementation);
      const noService = await failureOfCallTo(transport, "example.NoSuchService", "Call");
      expect(noService.code, name).toBe(Code.Unimplemented);
      expect(noService.rawMessage, name).toBe("unknown service example.NoSuchService");
      expect(isUnknownMethodAnswer(noService), name).toBe(true);
      const noMethod = await failureOfCallTo(transport, "databroker.DataBrokerService", "NoSuchMethod");
      expect(noMethod.rawMessage, name).toBe("unknown method NoSuchMethod for service databroker.DataBrokerService");
      expect(isUnknownMethodAnswer(noMethod), name).toBe(true);
    }
  });

  it("an unsupported filter operator is not an unknown-method answer, and its reason is the server's words", async () => {
    for (const [name, url] of databrokers()) {
      const transport = transportFor(url, implementation);
      const not = await failureOfQuery(transport, { $not: { id: "x" } });
      const startsWith = await failureOfQuery(transport, { user_id: { $startsWith: "u" } });
      expect(not.code, name).toBe(Code.Unimplemented);
      expect(isUnknownMethodAnswer(not), name).toBe(false);
      expect(startsWith.code, name).toBe(Code.Unimplemented);
      expect(isUnknownMethodAnswer(startsWith), name).toBe(false);
      // The in-memory server (connect-node) percent-encodes ':' and '=' in grpc-message, and
      // grpc-js decodes it with decodeURI, which leaves those two escaped ("rpc error%3A code
      // %3D ..."): the reason reads right only through connect-node, the CLI's transport.
      if (implementation === "grpc-js" && url === databroker.url) continue;
      expect(serverReason(not), name).toBe("logical operator not supported: not");
      expect(serverReason(startsWith), name).toBe("operator not supported: startsWith");
    }
  });

  it("a grpc-js server without the service and a plain HTTP/2 server's 404 are unknown-method answers", async () => {
    for (const url of [grpcJsUrl, webUrl]) {
      const error = await createDataBrokerClient(transportFor(url, implementation)).serverInfo({}).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error?.code, url).toBe(Code.Unimplemented);
      expect(isUnknownMethodAnswer(error), `${url}: ${error?.rawMessage}`).toBe(true);
    }
  });
});

describe("the CLI against Pomerium", () => {
  it("query --filter with $not reports the unsupported operator in Pomerium's words, exit 2", async () => {
    const secretFile = join(mkdtempSync(join(tmpdir(), "cli-unknown-method-")), "secret");
    writeFileSync(secretFile, SECRET);
    const { code, stdout, stderr } = await cli("query", "session", "--filter", `{"$not":{"id":"x"}}`, "--url", pomerium.url, "--shared-secret-file", secretFile);
    expect(stdout).toBe("");
    expect(stderr.trim()).toBe(
      `databroker-cache: --filter uses an operator the databroker at ${pomerium.url} does not support (logical operator not supported: not); equality, $and and $or work on every storage`,
    );
    expect(code).toBe(2);
  });
});
