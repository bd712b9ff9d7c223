/** `databroker-cache serve`: the in-memory databroker for local development. */
import { startInMemoryDatabroker } from "../server/index.js";
import { createTemporarySharedSecret, readSharedSecretFile } from "./shared-secret-file.js";
import { waitForShutdownSignal } from "./wait-for-shutdown.js";

export interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly sharedSecretFile: string | undefined;
}

export async function runServe(options: ServeOptions): Promise<number> {
  let sharedSecret: string;
  let secretPath: string;
  if (options.sharedSecretFile !== undefined) {
    sharedSecret = readSharedSecretFile(options.sharedSecretFile);
    secretPath = options.sharedSecretFile;
  } else {
    ({ secret: sharedSecret, path: secretPath } = createTemporarySharedSecret());
  }
  const server = await startInMemoryDatabroker({ sharedSecret, host: options.host, port: options.port });
  process.stdout.write(
    `in-memory databroker listening on ${server.url}\n` +
      `  shared secret file: ${secretPath}\n` +
      `  server version:     ${server.serverVersion}\n` +
      `serving until Ctrl-C\n`,
  );
  await waitForShutdownSignal();
  await server.close();
  process.stdout.write("stopped\n");
  return 0;
}
