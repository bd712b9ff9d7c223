/**
 * `@pomerium-sdk/databroker-cache/testing`: the in-memory databroker, for users' own tests. It is
 * an entry of its own so that importing the cache (the root entry) never loads the server.
 *
 * @module @pomerium-sdk/databroker-cache/testing
 */
export { startInMemoryDatabroker } from "./server/index.js";
export type { InMemoryDatabrokerOptions, RunningInMemoryDatabroker } from "./server/index.js";
