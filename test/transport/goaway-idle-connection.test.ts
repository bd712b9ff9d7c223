/**
 * Regression test for connectrpc/connect-es#1768: a GOAWAY (NO_ERROR) on an idle connection makes
 * the session manager destroy the session with an error that Node raises later; if the manager
 * has moved on by then (a new request reconnects), nothing listens and the process crashes with
 * an uncaught "received GOAWAY without any open streams". Pomerium sends exactly this GOAWAY
 * when it shuts down gracefully, so without our guard a databroker restart could crash the host.
 *
 * The guard hooks connect-node's private setState; when that is not what connect-node 2.1.x has,
 * it must say so once and still guard every session that carries a request.
 */
import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { Http2SessionManager } from "@connectrpc/connect-node";
import { guardSessionErrors } from "../../src/transport/guarded-session-manager.js";
import type { TransportWarningAttributes } from "../../src/transport/transport-warnings.js";
import { startRawHttp2Server, type RawHttp2Server } from "../support/raw-http2-server.js";

function startServer(): Promise<RawHttp2Server> {
  return startRawHttp2Server((stream) => {
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
}

async function get(manager: Http2SessionManager): Promise<http2.ClientHttp2Stream> {
  const stream = await manager.request("GET", "/", {}, {});
  stream.end();
  await new Promise<void>((resolve, reject) => {
    stream.on("error", reject);
    stream.resume();
    stream.on("end", () => resolve());
  });
  return stream;
}

/** The warnings a guard gave, as "guard: message". */
function warningLog(): { warnings: string[]; onWarning: (message: string, attributes: TransportWarningAttributes) => void } {
  const warnings: string[] = [];
  return { warnings, onWarning: (message, attributes) => warnings.push(`${attributes.guard}: ${message}`) };
}

/**
 * A manager whose private setState takes two parameters, as a connect-node release that changed
 * it might: it still works (it forwards to the real one), but it is not the method the guard knows.
 */
function managerWithChangedSetState(url: string): Http2SessionManager {
  const manager = new Http2SessionManager(url);
  const internals = manager as unknown as { setState: (state: unknown) => void };
  const original = internals.setState;
  internals.setState = function changedSetState(this: unknown, state: unknown, _reason?: unknown) {
    original.call(this, state);
  };
  return manager;
}

describe("HTTP/2 session guard (connect-es#1768)", () => {
  let server: RawHttp2Server | undefined;
  afterEach(async () => {
    await server?.close();
  });

  /** Idle GOAWAY, then a new request at once; returns the uncaught exceptions seen meanwhile. */
  async function goAwayThenRequest(manager: Http2SessionManager): Promise<unknown[]> {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    // Vitest would also report it, failing the run; collecting it makes the assertion explicit.
    process.on("uncaughtException", onUncaught);
    try {
      const first = await get(manager);
      const session = first.session!;
      // When the manager has destroyed the idle session, issue a new request at once: the
      // manager leaves the "ready" state (removing its listeners) before Node emits the error.
      const followUp = new Promise<void>((resolve) => {
        session.once("goaway", () => {
          void get(manager).then(() => resolve(), () => resolve());
        });
      });
      for (const s of server!.sessions) s.goaway(http2.constants.NGHTTP2_NO_ERROR);
      await followUp;
      await new Promise((r) => setTimeout(r, 100));
      manager.abort();
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    return uncaught;
  }

  it("a GOAWAY on an idle connection followed by a new request raises no uncaught exception", async () => {
    server = await startServer();
    const { warnings, onWarning } = warningLog();
    const manager = guardSessionErrors(new Http2SessionManager(`http://127.0.0.1:${server.port}`), onWarning);
    expect((await goAwayThenRequest(manager)).map(String)).toEqual([]);
    // connect-node is the release the guard was written for: nothing to warn about.
    expect(warnings).toEqual([]);
  });

  it("when setState is not the method it knows, warns once and still guards every session that carries a request", async () => {
    server = await startServer();
    const { warnings, onWarning } = warningLog();
    const manager = guardSessionErrors(managerWithChangedSetState(`http://127.0.0.1:${server.port}`), onWarning);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^connect-node-session-guard: @connectrpc\/connect-node's Http2SessionManager is not what this SDK was tested with/);
    expect((await goAwayThenRequest(manager)).map(String)).toEqual([]);
    expect(warnings).toHaveLength(1);
  });

  it("warns once when a request runs on a session the setState hook never saw become ready, and guards that session", async () => {
    server = await startServer();
    const { warnings, onWarning } = warningLog();
    const manager = new Http2SessionManager(`http://127.0.0.1:${server.port}`);
    // Stands for a release that opens sessions some other way: requests go to a session the
    // manager's setState never handled.
    const elsewhere = http2.connect(`http://127.0.0.1:${server.port}`);
    manager.request = async (method, path, headers, options) => elsewhere.request({ ...headers, ":method": method, ":path": path }, options);
    guardSessionErrors(manager, onWarning);
    expect(warnings).toEqual([]);
    const listenersBefore = elsewhere.listenerCount("error");
    await get(manager);
    await get(manager);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("no longer sees sessions become ready");
    expect(elsewhere.listenerCount("error")).toBe(listenersBefore + 1);
    elsewhere.destroy();
  });
});
