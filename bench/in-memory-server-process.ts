/**
 * Child process: our in-memory databroker on its own event loop, so the server never shares a
 * loop with the cache being measured. Prints "READY <url>" once listening; exits on stdin EOF.
 */
import { startInMemoryDatabroker } from "../src/server/index.js";
import { benchSecretFromEnv } from "./bench-secret.js";

const server = await startInMemoryDatabroker({ sharedSecret: benchSecretFromEnv() });
process.stdout.write(`READY ${server.url}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.stdin.on("end", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
