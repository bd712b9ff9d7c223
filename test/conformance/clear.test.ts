/**
 * Contract: Clear wipes records, history and options, moves to a new server version and cancels
 * every running stream (spec sections 3, 5 and 8).
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";

import { OptionsSchema, type SyncLatestResponse, type SyncResponse } from "../../gen/databroker/databroker_pb.js";
import { expectCallError, expectError, expectStreamError } from "./expect-error.js";
import { describeTargets, loadTargets } from "./harness.js";
import { DEFAULT_OPTION_TYPES, put, SESSION_TYPE, sessionRecord, syncLatest } from "./records.js";
import { StreamReader } from "./stream-reader.js";

const targets = await loadTargets();

describeTargets(targets, "Clear", (ctx) => {
  it("answers with the old and the new server version, and ServerInfo moves to the new one", async () => {
    const before = (await ctx.db.serverInfo({})).serverVersion;
    const res = await ctx.db.clear({});
    expect(res.oldServerVersion).toBe(before);
    expect(res.newServerVersion).not.toBe(before);
    expect(res.newServerVersion).not.toBe(0n);
    expect((await ctx.db.serverInfo({})).serverVersion).toBe(res.newServerVersion);
  });

  it("removes every record", async () => {
    await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"));
    await ctx.db.clear({});
    const msgs = await syncLatest(ctx.db, "");
    expect(msgs.map((m) => m.response.case)).toEqual(["versions"]);
    await expectCallError(ctx.db.get({ type: SESSION_TYPE, id: "s1" }), Code.NotFound, "record not found");
    expect((await ctx.db.listTypes({})).types).toEqual([]);
  });

  it("wipes all options, the defaults included, and does not re-apply them", async () => {
    await ctx.db.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { capacity: 10n }) });
    await ctx.db.clear({});
    await expectCallError(ctx.db.getOptions({ type: SESSION_TYPE }), Code.NotFound);
    await expectCallError(ctx.db.getOptions({ type: DEFAULT_OPTION_TYPES.sessionBinding }), Code.NotFound);
  });

  it("resets both record counters on memory/file (the next write is version 1); postgres keeps counting", async () => {
    const [before] = await put(ctx.db, sessionRecord("s1"), sessionRecord("s2"));
    await ctx.db.clear({});
    const info = await ctx.db.serverInfo({});
    expect(info.earliestRecordVersion).toBe(0n);
    expect(info.latestRecordVersion).toBe(0n);
    const [after] = await put(ctx.db, sessionRecord("s3"));
    if (ctx.target.flavour === "postgres") expect(after!.version).toBeGreaterThan(before!.version);
    else expect(after!.version).toBe(1n);
  });

  it("resets the checkpoint to (0, 0)", async () => {
    await ctx.checkpoints.setCheckpoint({ checkpoint: { serverVersion: 5n, recordVersion: 6n } });
    await ctx.db.clear({});
    const res = await ctx.checkpoints.getCheckpoint({});
    expect(res.checkpoint?.serverVersion ?? 0n).toBe(0n);
    expect(res.checkpoint?.recordVersion ?? 0n).toBe(0n);
  });

  it("ends an open Sync with CANCELLED, and the old server version is then ABORTED", async () => {
    const [first] = await put(ctx.db, sessionRecord("s1"));
    const sv = (await ctx.db.serverInfo({})).serverVersion;
    const reader = new StreamReader<SyncResponse>((signal) =>
      ctx.db.sync({ serverVersion: sv, recordVersion: first!.version - 1n }, { signal }),
    );
    try {
      // The first change proves the stream is open and now waiting.
      const msg = await reader.next();
      expect(msg.response.case === "record" && msg.response.value.id).toBe("s1");
      await reader.expectSilence(100);
      await ctx.db.clear({});
      const { error, before } = await reader.failure();
      expect(before).toEqual([]);
      expectError(error, Code.Canceled);
    } finally {
      reader.cancel();
    }
    await expectStreamError(
      ctx.db.sync({ serverVersion: sv, recordVersion: 0n, wait: false }),
      Code.Aborted,
      "invalid server version",
    );
  });

  it("ends a SyncLatest that is still streaming with CANCELLED", async () => {
    // postgres notices at its next page of 64 records, so send several pages.
    // Enough data that HTTP/2 flow control holds the server mid-stream while the client is paused.
    const padding = "x".repeat(4_096);
    for (let batch = 0; batch < 4; batch++) {
      await put(
        ctx.db,
        ...Array.from({ length: 100 }, (_, i) => sessionRecord(`s-${batch}-${String(i).padStart(3, "0")}`, { userId: padding })),
      );
    }
    const reader = new StreamReader<SyncLatestResponse>((signal) => ctx.db.syncLatest({ type: SESSION_TYPE }, { signal }));
    try {
      await reader.next();
      await new Promise((r) => setTimeout(r, 200));
      await ctx.db.clear({});
      const { error, before } = await reader.failure();
      expect(before.length).toBeLessThan(399);
      expect(before.every((m) => m.response.case === "record")).toBe(true);
      expectError(error, Code.Canceled);
    } finally {
      reader.cancel();
    }
  });

  it("keeps leases", async () => {
    const { id } = await ctx.db.acquireLease({ name: "survivor", duration: durationFromMs(60_000) });
    await ctx.db.clear({});
    await expectCallError(
      ctx.db.acquireLease({ name: "survivor", duration: durationFromMs(60_000) }),
      Code.AlreadyExists,
      "lease is already taken",
    );
    await ctx.db.renewLease({ name: "survivor", id, duration: durationFromMs(60_000) });
  });
});
