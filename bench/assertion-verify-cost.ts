/**
 * Identity verification figures, against a databroker on loopback:
 *
 * 1. Hot verification cost: createAssertionVerifier with a known ES256 key (a local key set, so
 *    no network), `verify(token)` of an assertion shaped as Pomerium signs it, for a live session
 *    of a cache holding SESSIONS sessions; ROUNDS rounds of CALLS sequential calls, median
 *    µs/op; and the same with the JWT check alone (jose's jwtVerify) to show what the cache adds.
 * 2. Sign-out to refusal under churn: a writer creates RATE sessions/s and deletes RATE/s (one
 *    Put every 10 ms holding both); for every SAMPLE_EVERY-th delete, the time from sending its
 *    Put to the first verify() that refuses the (still signed) assertion: the replica is polled
 *    every event-loop turn, then verify() runs once (its cost is included).
 *
 * The databroker runs in its own process (ours, or Pomerium's peer with `--server pomerium`).
 *
 *   node --import tsx bench/assertion-verify-cost.ts [--server in-memory|pomerium] [--sessions 10000] [--rounds 5] [--rate 1000] [--seconds 10]
 *
 * Prints one JSON line.
 */
import { performance } from "node:perf_hooks";
import { setImmediate as nextTurn, setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createLocalJWKSet, jwtVerify } from "jose";
import { RecordSchema } from "../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../gen/session/session_pb.js";
import { createAssertionVerifier, createDatabrokerCache, SESSION_TYPE } from "../src/index.js";
import { newBenchSecret } from "./bench-secret.js";
import { startBenchServer, type BenchServerKind } from "./bench-server.js";
import { createDataBrokerClient } from "../src/transport/databroker-clients.js";
import { createDatabrokerTransport } from "../src/transport/databroker-transport.js";
import { HOST, mint, newSigningKey } from "../test/identity/assertion-fixtures.js";
import { median, percentile } from "./stats.js";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "10000" },
    rounds: { type: "string", default: "5" },
    calls: { type: "string", default: "5000" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
    server: { type: "string", default: "in-memory" },
  },
});
const SESSIONS = Number(values.sessions);
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const SAMPLE_EVERY = 20;

const sessionRecord = (id: string, deleted = false) =>
  create(RecordSchema, {
    type: SESSION_TYPE,
    id,
    data: create(AnySchema, {
      typeUrl: `type.googleapis.com/${SessionSchema.typeName}`,
      value: toBinary(SessionSchema, create(SessionSchema, { id, userId: `user-${id}`, expiresAt: timestampFromMs(Date.now() + 3_600_000) })),
    }),
    ...(deleted ? { deletedAt: timestampFromMs(Date.now()) } : {}),
  });

const secret = newBenchSecret();
const server = await startBenchServer(values.server as BenchServerKind, secret);
const transport = createDatabrokerTransport(server.url, { sharedSecret: secret });
const writer = createDataBrokerClient(transport.transport);
for (let i = 0; i < SESSIONS; i += 1000) {
  await writer.put({ records: Array.from({ length: Math.min(1000, SESSIONS - i) }, (_, j) => sessionRecord(`s-${i + j}`)) });
}
const cache = createDatabrokerCache({ url: server.url, sharedSecret: secret, types: [SESSION_TYPE] });
await cache.ready({ timeoutMs: 60_000 });
const key = await newSigningKey();
const jwks = { keys: [key.publicJwk] };
const verifier = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks });

// 1. Hot cost.
const token = await mint(key, { sid: "s-1", sub: "user-s-1" });
const first = await verifier.verify(token);
if (!first.ok) throw new Error(`bench token refused: ${first.reason}`);
const local = createLocalJWKSet(jwks);
const timeRounds = async (fn: () => Promise<unknown>) => {
  for (let i = 0; i < 500; i++) await fn(); // warm-up
  const perRound: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    for (let i = 0; i < CALLS; i++) await fn();
    perRound.push(((performance.now() - start) * 1000) / CALLS);
  }
  return median(perRound);
};
const verifyUs = await timeRounds(() => verifier.verify(token));
const joseUs = await timeRounds(() => jwtVerify(token, local, { issuer: HOST, audience: HOST, algorithms: ["ES256"] }));

// 2. Sign-out to refusal under churn.
const refusalMs: number[] = [];
let next = SESSIONS;
let oldest = 0;
let deletes = 0;
const pending: Promise<void>[] = [];
const deadline = performance.now() + SECONDS * 1000;
const perTick = RATE / 100;
let carry = 0;
while (performance.now() < deadline) {
  const tickStart = performance.now();
  carry += perTick;
  const n = Math.floor(carry);
  carry -= n;
  const created = Array.from({ length: n }, () => sessionRecord(`s-${next++}`));
  const doomed = Array.from({ length: n }, () => `s-${oldest++}`);
  const sampled: Array<{ id: string; signed: string }> = [];
  for (const id of doomed) if (++deletes % SAMPLE_EVERY === 0) sampled.push({ id, signed: await mint(key, { sid: id, sub: `user-${id}` }) });
  // One Put per tick: the new sessions and the deletes (sign-outs) together.
  const sent = performance.now();
  void writer.put({ records: [...created, ...doomed.map((id) => sessionRecord(id, true))] });
  for (const { id, signed } of sampled) {
    pending.push(
      (async () => {
        // The refusal is decided by the replica: poll that cheaply every turn, then verify once
        // (a verify per turn per sample would saturate the event loop with ECDSA work).
        while (cache.getSession(id) !== undefined) await nextTurn();
        const result = await verifier.verify(signed);
        if (result.ok) throw new Error("a deleted session's assertion was accepted");
        refusalMs.push(performance.now() - sent);
      })(),
    );
  }
  const spent = performance.now() - tickStart;
  if (spent < 10) await delay(10 - spent);
}
await Promise.all(pending);

console.log(
  JSON.stringify({
    server: server.description,
    sessions: SESSIONS,
    verifyHotUsPerOp: Number(verifyUs.toFixed(1)),
    joseJwtVerifyUsPerOp: Number(joseUs.toFixed(1)),
    churnPerSecond: RATE,
    seconds: SECONDS,
    refusalSamples: refusalMs.length,
    signOutToRefusalMs: {
      p50: Number(percentile(refusalMs, 50).toFixed(2)),
      p99: Number(percentile(refusalMs, 99).toFixed(2)),
      max: Number(percentile(refusalMs, 100).toFixed(2)),
    },
  }),
);
verifier.close();
await cache.close();
await transport.close();
await server.stop();
