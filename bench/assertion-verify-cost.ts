/**
 * Identity verification figures, against a databroker on loopback:
 *
 * 1. Hot verification cost: createAssertionVerifier with a known ES256 key (no network call),
 *    `verify(token)` of an assertion as Pomerium signs it, for a live session of a cache holding
 *    SESSIONS sessions; ROUNDS rounds of CALLS sequential calls, median µs/op; and the same with
 *    the JWT check alone (jose's jwtVerify) to show what the cache adds.
 * 2. Sign-out to refusal under churn: a writer creates RATE sessions/s and deletes RATE/s (one
 *    Put about every 10 ms holding both; open loop: a late tick sends what is due by then); for
 *    every SAMPLE_EVERY-th delete, the time from sending its Put to the first verify() that
 *    refuses the (still signed) assertion: the replica is polled every event-loop turn, then
 *    verify() runs once (its cost is included).
 *
 * The databroker runs in its own process (ours, or Pomerium's peer with `--server pomerium`).
 * With `--server pomerium` the assertions are minted by the peer (interop/pomerium: claims from
 * the session it stores, signed with its signing key) and the verifier fetches the peer's JWKS
 * (once; a known key then needs no network); otherwise they are signed here, shaped the same way,
 * and the key set is local.
 *
 * Counters printed with the figures, to tell a slow refusal from an overloaded run: the churn
 * rate actually sent and acknowledged, Put latencies, Puts still outstanding at the end of the
 * window, this process's event-loop utilisation and CPU time during the churn, and the load
 * average before and after (the machine may be shared).
 *
 *   node --import tsx bench/assertion-verify-cost.ts [--server in-memory|pomerium] [--sessions 10000] [--rounds 5] [--rate 1000] [--seconds 10]
 *
 * Prints one JSON line.
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { setImmediate as nextTurn, setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
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
const loadBefore = loadavg();
const cache = createDatabrokerCache({ url: server.url, sharedSecret: secret, types: [SESSION_TYPE] });
await cache.ready({ timeoutMs: 60_000 });
const peer = server.pomerium;
const key = await newSigningKey();
// The assertion for a stored session: minted by Pomerium's peer, or here in the same shape.
const assertionFor = async (id: string): Promise<string> =>
  peer !== undefined ? (await peer.mintAssertion({ sessionId: id, host: HOST })).assertion : mint(key, { sid: id, sub: `user-${id}` });
const jwks: JSONWebKeySet = peer !== undefined ? ((await (await fetch(peer.jwksUrl)).json()) as JSONWebKeySet) : { keys: [key.publicJwk] };
const verifier = createAssertionVerifier(cache, { issuer: HOST, audience: HOST, jwks: peer?.jwksUrl ?? jwks });

// 1. Hot cost.
const token = await assertionFor("s-1");
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
const putMs: number[] = [];
let putsSent = 0;
let putsDone = 0;
let deletesAcked = 0;
let next = SESSIONS;
let oldest = 0;
let deletes = 0;
const pending: Promise<void>[] = [];
const churnStart = performance.now();
const deadline = churnStart + SECONDS * 1000;
const eluStart = performance.eventLoopUtilization();
const cpuStart = process.cpuUsage();
let churned = 0;
while (performance.now() < deadline) {
  const tickStart = performance.now();
  // Open loop: what is due by the clock, so a slow tick is caught up by the next (at most a
  // tenth of a second's worth at once); the rate actually sent is reported.
  const n = Math.min(Math.ceil(RATE / 10), Math.floor((RATE * (tickStart - churnStart)) / 1000) - churned);
  churned += n;
  const created = Array.from({ length: n }, () => sessionRecord(`s-${next++}`));
  const doomed = Array.from({ length: n }, () => `s-${oldest++}`);
  const sampledIds = doomed.filter(() => ++deletes % SAMPLE_EVERY === 0);
  const sampled = await Promise.all(sampledIds.map(async (id) => ({ id, signed: await assertionFor(id) })));
  // One Put per tick: the new sessions and the deletes (sign-outs) together.
  const sent = performance.now();
  putsSent++;
  void writer.put({ records: [...created, ...doomed.map((id) => sessionRecord(id, true))] }).then(() => {
    putsDone++;
    putMs.push(performance.now() - sent);
    if (performance.now() <= deadline) deletesAcked += doomed.length;
  });
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
const churnSeconds = (performance.now() - churnStart) / 1000;
const elu = performance.eventLoopUtilization(eluStart);
const cpu = process.cpuUsage(cpuStart);
const putsOutstandingAtEnd = putsSent - putsDone;
await Promise.all(pending);

console.log(
  JSON.stringify({
    server: server.description,
    sessions: SESSIONS,
    verifyHotUsPerOp: Number(verifyUs.toFixed(1)),
    joseJwtVerifyUsPerOp: Number(joseUs.toFixed(1)),
    assertionsFrom: peer !== undefined ? "Pomerium peer (POST /assertion), remote JWKS" : "signed here, local key set",
    churnPerSecond: RATE,
    seconds: SECONDS,
    deletesSentPerSecond: Number((deletes / churnSeconds).toFixed(0)),
    deletesAckedPerSecond: Number((deletesAcked / churnSeconds).toFixed(0)),
    putsOutstandingAtEnd,
    putMs: { p50: Number(percentile(putMs, 50).toFixed(2)), p99: Number(percentile(putMs, 99).toFixed(2)) },
    eventLoopUtilization: Number(elu.utilization.toFixed(2)),
    processCpuPerWallSecond: Number(((cpu.user + cpu.system) / 1e6 / churnSeconds).toFixed(2)),
    loadAverage1m: { before: Number(loadBefore[0]!.toFixed(2)), after: Number(loadavg()[0]!.toFixed(2)) },
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
