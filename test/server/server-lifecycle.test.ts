import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { startInMemoryDatabroker } from "../../src/server/index.js";

function rawUnary(address: string, path: string, body: Buffer): Promise<{ code: number; details: string; response?: Buffer }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, new grpc.Metadata(), (err, response) => {
      client.close();
      resolve(err === null ? { code: 0, details: "", response: response as Buffer } : { code: err.code, details: err.details });
    });
  });
}

describe("in-memory databroker lifecycle", () => {
  it("answers grpc.health.v1.Health/Check with SERVING without a JWT", async () => {
    const server = await startInMemoryDatabroker({ sharedSecret: randomBytes(32).toString("base64") });
    try {
      const res = await rawUnary(new URL(server.url).host, "/grpc.health.v1.Health/Check", Buffer.from([0x0a, 0x01, 0x78]));
      expect(res.code).toBe(0);
      expect([...(res.response ?? [])]).toEqual([0x08, 0x01]);
      const watch = await rawUnary(new URL(server.url).host, "/grpc.health.v1.Health/Watch", Buffer.alloc(0));
      expect(watch.code).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      await server.close();
    }
  });

  it("answers unknown methods and services with UNIMPLEMENTED in grpc-go's words", async () => {
    const server = await startInMemoryDatabroker({ sharedSecret: randomBytes(32).toString("base64") });
    try {
      const host = new URL(server.url).host;
      expect(await rawUnary(host, "/databroker.DataBrokerService/Nope", Buffer.from([1]))).toEqual({
        code: grpc.status.UNIMPLEMENTED,
        details: "unknown method Nope for service databroker.DataBrokerService",
      });
      expect(await rawUnary(host, "/x.Y/Z", Buffer.alloc(0))).toEqual({ code: grpc.status.UNIMPLEMENTED, details: "unknown service x.Y" });
    } finally {
      await server.close();
    }
  });

  it("survives garbage and HTTP/1.1 bytes on the socket and keeps serving", async () => {
    const server = await startInMemoryDatabroker({ sharedSecret: randomBytes(32).toString("base64") });
    try {
      const payloads = [
        Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        randomBytes(5000),
        Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), randomBytes(3000)]),
      ];
      for (const payload of payloads) {
        await new Promise<void>((resolve) => {
          const sock = connect(server.port, "127.0.0.1", () => sock.end(payload));
          sock.on("data", () => undefined);
          sock.on("error", () => resolve());
          sock.on("close", () => resolve());
        });
      }
      const res = await rawUnary(new URL(server.url).host, "/grpc.health.v1.Health/Check", Buffer.alloc(0));
      expect(res.code).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("can restart on the same port right after close()", async () => {
    const sharedSecret = randomBytes(32).toString("base64");
    const first = await startInMemoryDatabroker({ sharedSecret });
    await first.close();
    const second = await startInMemoryDatabroker({ sharedSecret, port: first.port });
    expect(second.port).toBe(first.port);
    expect(second.serverVersion).not.toBe(first.serverVersion);
    await second.close();
  });

  it("close() ends open streams, timers and sockets so the process exits by itself", async () => {
    const fixture = fileURLToPath(new URL("./close-exit-fixture.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", fixture], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += String(d)));
    child.stderr.on("data", (d) => (err += String(d)));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`process did not exit after close(); stdout=${out} stderr=${err}`));
      }, 20_000);
      child.on("exit", (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toMatch(/^stream error: \[unavailable\][^\n]*\nclosed ok\n$/);
  });
});
