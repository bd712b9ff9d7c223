/** The in-memory databroker: public entry and its types. */
export { startInMemoryDatabroker } from "./start-in-memory-databroker.js";
export type { InMemoryDatabrokerOptions, RunningInMemoryDatabroker } from "./start-in-memory-databroker.js";
