/**
 * Child-process fixture for the "process can exit after close()" test: starts the server, opens
 * a waiting Sync stream and a client connection, closes the server, and then simply returns.
 * If anything (timer, socket, stream) were left behind, the process would not exit.
 */
import { randomBytes } from "node:crypto";
import { startInMemoryDatabroker } from "../../src/server/index.js";
import { databrokerClients } from "./databroker-client.js";

const sharedSecret = randomBytes(32).toString("base64");
const server = await startInMemoryDatabroker({ sharedSecret, cleanupIntervalMs: 10 });
const { databroker } = databrokerClients(server.url, sharedSecret);
await databroker.put({ records: [{ type: "t", id: "1" }] });
const stream = (async () => {
  try {
    for await (const _ of databroker.sync({ serverVersion: server.serverVersion, recordVersion: 0n })) void _;
    return "ended";
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
})();
await new Promise((r) => setTimeout(r, 100));
await server.close();
process.stdout.write(`stream ${await stream}\n`);
process.stdout.write("closed ok\n");
