/** `databroker-cache serve`: the in-memory databroker for local development. */
import { startInMemoryDatabroker } from "../server/index.js";
import { CliUsageError } from "./cli-error.js";
import { explainListenError } from "./listen-error.js";
import { createTemporarySharedSecret, readSharedSecretFile } from "./shared-secret-file.js";
import { aborted, shutdownSignal } from "./shutdown-signal.js";

export interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly sharedSecretFile: string | undefined;
  /** Only "memory" exists. */
  readonly storage: string;
  /** Serve this long, then exit; undefined: until Ctrl-C. */
  readonly durationMs: number | undefined;
}

export async function runServe(options: ServeOptions): Promise<number> {
  if (options.storage !== "memory") {
    throw new CliUsageError(`--storage ${JSON.stringify(options.storage)} is not available: this SDK's databroker keeps records in memory only (--storage memory)`);
  }
  let sharedSecret: string;
  let secretPath: string;
  // A secret we made up lives only as long as the server.
  let removeSecret = () => {};
  if (options.sharedSecretFile !== undefined) {
    sharedSecret = readSharedSecretFile(options.sharedSecretFile);
    secretPath = options.sharedSecretFile;
  } else {
    ({ secret: sharedSecret, path: secretPath, remove: removeSecret } = createTemporarySharedSecret());
  }
  const { signal, dispose } = shutdownSignal(options.durationMs);
  let server;
  try {
    server = await startInMemoryDatabroker({ sharedSecret, host: options.host, port: options.port });
  } catch (error) {
    dispose();
    removeSecret();
    throw explainListenError(error, options.host, options.port);
  }
  process.stdout.write(
    `in-memory databroker listening on ${server.url}\n` +
      `  shared secret file: ${secretPath}\n` +
      `  server version:     ${server.serverVersion}\n` +
      `serving until Ctrl-C\n`,
  );
  await aborted(signal);
  dispose();
  await server.close();
  removeSecret();
  process.stdout.write("stopped\n");
  return 0;
}
