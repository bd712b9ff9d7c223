/**
 * The process's RSS once a module is imported (after two forced collections): the fixed part of
 * the cache bench's RSS figure, before any record is held. Plain JavaScript, so it runs with and
 * without tsx:
 *
 *   node --expose-gc bench/module-baseline-rss.mjs                        # node alone
 *   node --expose-gc --import tsx bench/module-baseline-rss.mjs ./src/index.ts   # as the bench's children run
 *   npm run build && node --expose-gc bench/module-baseline-rss.mjs ./dist/src/index.js   # the built package
 */
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

if (typeof globalThis.gc !== "function") throw new Error("run with node --expose-gc");
const path = process.argv[2];
const exports = path === undefined ? 0 : Object.keys(await import(pathToFileURL(resolve(path)).href)).length;
globalThis.gc();
await sleep(100);
globalThis.gc();
const u = process.memoryUsage();
const mb = (n) => Math.round(n / 1e5) / 10;
console.log(JSON.stringify({ module: path ?? null, exports, rssMB: mb(u.rss), heapUsedMB: mb(u.heapUsed), heapTotalMB: mb(u.heapTotal), externalMB: mb(u.external) }));
