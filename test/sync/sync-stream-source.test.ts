import { describe, expect, it } from "vitest";
import { createDatabrokerUrlSet } from "../../src/transport/databroker-url-set.js";
import { syncSourcesFromUrlSet } from "../../src/sync/sync-stream-source.js";

const sharedSecret = Buffer.alloc(32, 7).toString("base64");

describe("sync sources from a URL set", () => {
  it("moves to the next URL when the current one fails", () => {
    const urlSet = createDatabrokerUrlSet(["http://127.0.0.1:1", "http://127.0.0.1:2"], { sharedSecret });
    const sources = syncSourcesFromUrlSet(urlSet);
    sources.reportConnectionFailure(sources.current());
    expect(urlSet.current().url).toBe("http://127.0.0.1:2");
    urlSet.close();
  });

  it("ignores a connection failure reported after the URL set closed instead of throwing", () => {
    const urlSet = createDatabrokerUrlSet(["http://127.0.0.1:1", "http://127.0.0.1:2"], { sharedSecret });
    const sources = syncSourcesFromUrlSet(urlSet);
    const source = sources.current();
    urlSet.close();
    expect(urlSet.closed).toBe(true);
    expect(() => sources.reportConnectionFailure(source)).not.toThrow();
  });
});
