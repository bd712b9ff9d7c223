/** The cache works the same on either HTTP/2 gRPC client under its Connect clients. */
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_CACHE_TRANSPORT } from "../../src/index.js";
import { SESSION_TYPE } from "../../src/records/type-urls.js";
import { DATABROKER_TRANSPORT_IMPLEMENTATIONS } from "../../src/transport/databroker-transport.js";
import { Cleanups, cacheFor, deleted, session, startServer, until, user, writer } from "./cache-fixtures.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe.each(DATABROKER_TRANSPORT_IMPLEMENTATIONS)("a cache on the %s transport", (transport) => {
  it("loads the snapshot, follows changes and writes through its client", async () => {
    const server = await startServer(cleanups);
    const w = writer(server.url);
    await w.put({ records: [session("s1", "u1"), user("u1", "a@example.com")] });
    const cache = cacheFor(cleanups, server.url, { transport });
    await cache.ready({ timeoutMs: 10_000 });
    expect(cache.getSession("s1")?.userId).toBe("u1");
    expect(cache.userByEmail("a@example.com")?.id).toBe("u1");

    await w.put({ records: [session("s2", "u1")] });
    await until(() => cache.getSession("s2") !== undefined, "the new session");
    await cache.client.put({ records: [deleted(session("s1", "u1"))] });
    await until(() => cache.get(SESSION_TYPE, "s1") === undefined, "the deletion");
    expect([...cache.sessionsByUser("u1")]).toEqual(["s2"]);
  });
});

it("has a documented default transport", () => {
  expect(DATABROKER_TRANSPORT_IMPLEMENTATIONS).toContain(DEFAULT_CACHE_TRANSPORT);
});
