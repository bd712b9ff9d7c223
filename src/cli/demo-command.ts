/**
 * `databroker-cache demo`, the README's first command: the in-memory databroker, seeded with demo
 * users and sessions through the real gRPC API, and a summary of what it holds.
 */
import { startInMemoryDatabroker } from "../server/index.js";
import { createDataBrokerClient, type DataBrokerClient } from "../transport/databroker-clients.js";
import { createDatabrokerTransport } from "../transport/databroker-transport.js";
import { seedDemoData } from "./seed-demo-data.js";
import { createTemporarySharedSecret } from "./shared-secret-file.js";
import { waitForShutdownSignal } from "./wait-for-shutdown.js";

export interface DemoOptions {
  readonly users: number;
  readonly sessions: number;
  readonly port: number;
  /** Exit after the summary instead of serving until Ctrl-C. */
  readonly once: boolean;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const { secret, path } = createTemporarySharedSecret();
  const server = await startInMemoryDatabroker({ sharedSecret: secret, port: options.port });
  const connection = createDatabrokerTransport(server.url, { sharedSecret: secret });
  try {
    const client = createDataBrokerClient(connection.transport);
    const started = performance.now();
    await seedDemoData(client, { users: options.users, sessions: options.sessions });
    const seededMs = performance.now() - started;
    process.stdout.write(`in-memory databroker listening on ${server.url}\n`);
    process.stdout.write(`  shared secret file: ${path} (base64 of 32 bytes)\n`);
    process.stdout.write(await summary(client));
    process.stdout.write(`seeded ${options.users} users and ${options.sessions} sessions in ${(seededMs / 1000).toFixed(2)} s\n`);
  } finally {
    connection.close();
  }
  if (!options.once) {
    process.stdout.write("serving until Ctrl-C\n");
    await waitForShutdownSignal();
  }
  await server.close();
  return 0;
}

/** Server versions and a line per record type, all read back through the API. */
async function summary(client: DataBrokerClient): Promise<string> {
  const info = await client.serverInfo({});
  const { types } = await client.listTypes({});
  let out =
    `  server version:     ${info.serverVersion}\n` +
    `  record versions:    earliest ${info.earliestRecordVersion}, latest ${info.latestRecordVersion}\n`;
  const width = Math.max(0, ...types.map((t) => t.length));
  for (const type of types) {
    // limit 0 returns no records but still counts the matches.
    const { totalCount } = await client.query({ type, limit: 0n });
    out += `  ${type.padEnd(width)}  ${totalCount} records\n`;
  }
  return out;
}
