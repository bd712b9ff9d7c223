/**
 * `databroker-cache demo`, the README's first command: the in-memory databroker, seeded with demo
 * users and sessions through the real gRPC API, a writer simulating sign-ins, refreshes,
 * sign-outs and expiries, and a cache mirroring it all with a live status.
 */
import { createDatabrokerCache } from "../cache/databroker-cache.js";
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../records/type-urls.js";
import { startInMemoryDatabroker, type RunningInMemoryDatabroker } from "../server/index.js";
import { createDataBrokerClient, type DataBrokerClient } from "../transport/databroker-clients.js";
import { createDatabrokerTransport } from "../transport/databroker-transport.js";
import { DemoWriter } from "./demo-writer.js";
import { runLiveStatus } from "./live-status.js";
import { explainListenError } from "./listen-error.js";
import { progressBar } from "./progress-bar.js";
import { seedDemoData } from "./seed-demo-data.js";
import { createTemporarySharedSecret } from "./shared-secret-file.js";
import { shutdownSignal } from "./shutdown-signal.js";

export interface DemoOptions {
  readonly users: number;
  readonly sessions: number;
  readonly port: number;
  /** Print the summary and one status line, then exit (no writer). */
  readonly once: boolean;
  /** Run the live status this long, then exit; undefined: until Ctrl-C. */
  readonly durationMs: number | undefined;
  readonly intervalMs: number;
  readonly writesPerSecond: number;
  readonly lookupsPerSecond: number;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const out = process.stdout;
  const { signal, dispose } = shutdownSignal(options.durationMs);
  const { secret, path, remove } = createTemporarySharedSecret();
  let server: RunningInMemoryDatabroker;
  try {
    server = await startInMemoryDatabroker({ sharedSecret: secret, port: options.port });
  } catch (error) {
    dispose();
    remove();
    throw explainListenError(error, "127.0.0.1", options.port);
  }
  const connection = createDatabrokerTransport(server.url, { sharedSecret: secret });
  try {
    out.write(`in-memory databroker listening on ${server.url}\n  shared secret file: ${path} (base64 of 32 bytes)\n`);
    const client = createDataBrokerClient(connection.transport);
    const started = performance.now();
    const bar = progressBar(out, "seeding     ", options.users + options.sessions);
    await seedDemoData(client, { users: options.users, sessions: options.sessions }, (n) => bar.update(n));
    bar.finish(`${((performance.now() - started) / 1000).toFixed(2)} s`);
    out.write(await summary(client));
    if (signal.aborted) return 0;

    const cache = createDatabrokerCache({ url: server.url, sharedSecret: secret, types: [SESSION_TYPE, USER_TYPE, SERVICE_ACCOUNT_TYPE], signal });
    const writer = options.once
      ? undefined
      : new DemoWriter(client, { users: options.users, sessions: options.sessions, writesPerSecond: options.writesPerSecond });
    try {
      await runLiveStatus({
        cache,
        title: `databroker-cache demo: ${server.url}`,
        expectedRecords: options.users + options.sessions,
        ...(writer ? { writer } : {}),
        lookupsPerSecond: options.lookupsPerSecond,
        intervalMs: options.intervalMs,
        signal,
        readyTimeoutMs: 30_000,
        once: options.once,
      });
    } finally {
      await cache.close();
    }
    if (!options.once) out.write("stopped: cache closed, databroker closed\n");
    return 0;
  } finally {
    dispose();
    connection.close();
    await server.close();
    remove();
  }
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
