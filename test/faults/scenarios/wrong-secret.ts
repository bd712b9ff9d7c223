/**
 * Scenario 7: the cache has the wrong shared secret. It must say so clearly (naming the shared
 * secret, never showing it) and retry slowly: the server sees at most a few attempts, not a
 * hot loop. Default retry policy (the auth delay is 30 s): over ~2.5 s one attempt per stream.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createDatabrokerCache } from "../../../src/cache/databroker-cache.js";
import { LogCapture, SECRET, SESSION_TYPE, sleep, type Cleanups } from "../fault-fixtures.js";
import { startCountingDatabroker } from "../counting-databroker.js";

export default async function wrongSecret(cleanups: Cleanups): Promise<void> {
  const server = await startCountingDatabroker(SECRET);
  cleanups.add(() => server.close());
  const wrong = randomBytes(32).toString("base64");
  const log = new LogCapture();
  const cache = createDatabrokerCache({ url: server.url, sharedSecret: wrong, types: [SESSION_TYPE], logger: log });
  cleanups.add(() => cache.close());

  const started = performance.now();
  const readiness = await cache.ready({ timeoutMs: 1000 }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.ok(readiness instanceof Error, "ready() rejects");
  assert.match(readiness.message, /shared[ _]?secret/i, `ready()'s error names the shared secret: ${readiness.message}`);
  const stream = cache.state.streams[0]!;
  assert.match(stream.lastError ?? "", /shared[ _]?secret/i, `state names the shared secret: ${stream.lastError}`);
  await sleep(2500 - (performance.now() - started));

  const attempts = server.calls.length;
  console.log(`measure wrong-secret attempts=${attempts} in ms=${Math.round(performance.now() - started)} (${server.calls.map((c) => c.method).join(",")})`);
  assert.ok(attempts >= 1, "the cache did try");
  assert.ok(attempts <= 2, `at most a few attempts, not a hot loop: ${attempts} in 2.5 s`);
  assert.ok(log.lines.some((l) => l.level !== "debug" && /shared[ _]?secret/i.test(l.message)), `a warning names the shared secret:\n${log.text()}`);
  for (const text of [log.text(), readiness.message, stream.lastError ?? ""]) {
    assert.ok(!text.includes(wrong) && !text.includes(SECRET), "no secret in logs or errors");
  }
  assert.equal(cache.isReady, false);
  // The next attempt is a long way off (the auth delay), not the next turn of a loop.
  const now = cache.state.streams[0]!;
  assert.equal(now.state, "backing-off");
  assert.ok((now.retryInMs ?? 0) >= 20_000, `next attempt scheduled far off: retryInMs=${now.retryInMs}`);
}
