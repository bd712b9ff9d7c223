/**
 * The program pack.test.ts compiles and runs in a fresh project against the installed tarball:
 * it embeds the cache against a running `databroker-cache serve` (URL and secret file from argv)
 * and runs the README's examples. Prints "embed ok" and exits 0 when everything held.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { SESSION_TYPE, SessionSchema, isSessionValid, versionOfWrite } from "../../src/index.js";
import {
  authorize,
  inMemoryRoundTrip,
  observeSignOuts,
  readAfterWrite,
  recordsPerType,
  sessionRecords,
  signIn,
  startCache,
  waitThenRead,
} from "./readme-examples.js";

function check(condition: boolean, what: string): void {
  if (!condition) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
}

const [url, secretFile] = process.argv.slice(2);
if (url === undefined || secretFile === undefined) throw new Error("usage: embed-program URL SECRET_FILE");

const cache = await startCache(url, secretFile);
const signedOut: string[] = [];
let onSignOut: (() => void) | undefined;
const stop = observeSignOuts(cache, (id) => {
  signedOut.push(id);
  onSignOut?.();
});
const session = create(SessionSchema, {
  id: "embedded-1",
  userId: "user-1",
  expiresAt: timestampFromMs(Date.now() + 3_600_000),
  claims: { groups: { values: [{ kind: { case: "stringValue", value: "admins" } }] } },
});
const version = await signIn(cache, session);
check((await readAfterWrite(cache, "embedded-1", version))?.userId === "user-1", "read-your-writes through getConsistent");
check((await waitThenRead(cache, "embedded-1", version))?.userId === "user-1", "waitForVersion then getSession");
check(authorize(cache, "embedded-1", "admins") && !authorize(cache, "embedded-1", "finance"), "authorize by group");
check(isSessionValid(cache.getSession("embedded-1")!), "isSessionValid");
check(sessionRecords(cache, ["embedded-1", "nobody"]).map((r) => r.id).join() === "embedded-1", "local query without a limit");
check(recordsPerType(cache)[SESSION_TYPE] === 1, "records per type");
const signOut = await cache.client.put({ records: [{ type: SESSION_TYPE, id: "embedded-1", deletedAt: timestampFromMs(Date.now()) }] });
await cache.waitForVersion(versionOfWrite(signOut), { type: SESSION_TYPE, timeoutMs: 5_000 });
// changes$ delivers a turn of the event loop after the replica shows the change: wait for that
// delivery (up to 5 s), not for a fixed time.
if (!signedOut.includes("embedded-1")) {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5_000);
    onSignOut = () => {
      if (!signedOut.includes("embedded-1")) return;
      clearTimeout(timer);
      resolve();
    };
  });
}
check(signedOut.includes("embedded-1"), "changes$ saw the sign-out");
check(cache.getSession("embedded-1") === undefined, "deleted session is gone");
stop();
await cache.close();
check(await inMemoryRoundTrip(), "startInMemoryDatabroker round trip");
console.log("embed ok");
