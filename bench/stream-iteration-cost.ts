/**
 * What handing out a server stream's messages costs, apart from the network: one million
 * already-decoded messages iterated with `for await` through the generated Connect client's
 * streaming method, and through `openServerStream` (what the sync loop uses), over a transport
 * whose message iterator resolves at once. Alternating, in one process; prints ns per message.
 *
 *   node --expose-gc --import tsx bench/stream-iteration-cost.ts [--messages 1000000] [--rounds 3]
 */
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import { createClient, type StreamResponse, type Transport } from "@connectrpc/connect";
import { DataBrokerService, SyncLatestResponseSchema } from "../gen/databroker/databroker_pb.js";
import { openServerStream } from "../src/transport/server-stream.js";
import { fullGc, requireExposedGc } from "./full-gc.js";
import { median } from "./stats.js";

requireExposedGc();
const { values } = parseArgs({ options: { messages: { type: "string", default: "1000000" }, rounds: { type: "string", default: "3" } } });
const N = Number(values.messages);
const message = create(SyncLatestResponseSchema, {});

/** A transport whose streams hand out N copies of one message, each next() already resolved. */
const transport: Transport = {
  unary: () => Promise.reject(new Error("not used")),
  stream: <I extends never, O extends never>() => {
    let i = 0;
    const iterator = { next: () => Promise.resolve(i++ < N ? { done: false as const, value: message } : { done: true as const, value: undefined }) };
    const response = {
      stream: true,
      service: DataBrokerService,
      method: DataBrokerService.method.syncLatest,
      header: new Headers(),
      trailer: new Headers(),
      message: { [Symbol.asyncIterator]: () => iterator },
    };
    return Promise.resolve(response as unknown as StreamResponse<I, O>);
  },
};
const client = createClient(DataBrokerService, transport);

async function count(iterable: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of iterable) n++;
  return n;
}

const ways = {
  "generated client": () => count(client.syncLatest({})),
  openServerStream: () => count(openServerStream(transport, DataBrokerService.method.syncLatest, {}, { signal: new AbortController().signal })),
};
const results = new Map<string, number[]>();
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [name, run] of Object.entries(ways)) {
    await fullGc();
    const started = performance.now();
    const n = await run();
    if (n !== N) throw new Error(`${name} read ${n} of ${N} messages`);
    const ns = ((performance.now() - started) * 1e6) / N;
    results.set(name, [...(results.get(name) ?? []), ns]);
    console.log(`round ${round + 1} ${name}: ${ns.toFixed(0)} ns per message`);
  }
}
for (const [name, ns] of results) console.log(`${name}: median ${median(ns).toFixed(0)} ns per message`);
