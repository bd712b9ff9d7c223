/**
 * Contract: leases (acquire, renew, release) and the checkpoint pair (spec section 8).
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { expect, it } from "vitest";

import { expectCallError } from "./expect-error.js";
import { describeTargets, loadTargets } from "./harness.js";

const targets = await loadTargets();
const MINUTE = durationFromMs(60_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeTargets(targets, "leases", (ctx) => {
  it("acquires a free lease and answers with a fresh UUID", async () => {
    const a = await ctx.db.acquireLease({ name: "a", duration: MINUTE });
    const b = await ctx.db.acquireLease({ name: "b", duration: MINUTE });
    expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(b.id).not.toBe(a.id);
  });

  it('refuses a held lease with ALREADY_EXISTS "lease is already taken"', async () => {
    await ctx.db.acquireLease({ name: "l", duration: MINUTE });
    await expectCallError(ctx.db.acquireLease({ name: "l", duration: MINUTE }), Code.AlreadyExists, "lease is already taken");
  });

  it('renews for the holder and refuses others with ALREADY_EXISTS "lease no longer held"', async () => {
    const { id } = await ctx.db.acquireLease({ name: "l", duration: MINUTE });
    await ctx.db.renewLease({ name: "l", id, duration: MINUTE });
    await expectCallError(
      ctx.db.renewLease({ name: "l", id: "someone-else", duration: MINUTE }),
      Code.AlreadyExists,
      "lease no longer held",
    );
  });

  it("always answers ReleaseLease with OK, but only the holder's release frees the lease", async () => {
    const { id } = await ctx.db.acquireLease({ name: "l", duration: MINUTE });
    await ctx.db.releaseLease({ name: "l", id: "not-the-holder" });
    await ctx.db.releaseLease({ name: "never-acquired", id: "x" });
    await expectCallError(ctx.db.acquireLease({ name: "l", duration: MINUTE }), Code.AlreadyExists, "lease is already taken");
    await ctx.db.releaseLease({ name: "l", id });
    const again = await ctx.db.acquireLease({ name: "l", duration: MINUTE });
    expect(again.id).not.toBe(id);
  });

  it("treats a zero duration as expired at once", async () => {
    await ctx.db.acquireLease({ name: "l", duration: durationFromMs(0) });
    await sleep(5);
    const second = await ctx.db.acquireLease({ name: "l", duration: MINUTE });
    expect(second.id).not.toBe("");
  });

  it("lets anyone take an expired lease, after which the old holder cannot renew it", async () => {
    const first = await ctx.db.acquireLease({ name: "l", duration: durationFromMs(100) });
    await sleep(300);
    const second = await ctx.db.acquireLease({ name: "l", duration: MINUTE });
    await expectCallError(ctx.db.renewLease({ name: "l", id: first.id, duration: MINUTE }), Code.AlreadyExists, "lease no longer held");
    await ctx.db.renewLease({ name: "l", id: second.id, duration: MINUTE });
  });

  it("lets the old holder renew an expired lease nobody took", async () => {
    const { id } = await ctx.db.acquireLease({ name: "l", duration: durationFromMs(100) });
    await sleep(300);
    await ctx.db.renewLease({ name: "l", id, duration: MINUTE });
    await expectCallError(ctx.db.acquireLease({ name: "l", duration: MINUTE }), Code.AlreadyExists, "lease is already taken");
  });
});

describeTargets(targets, "checkpoints", (ctx) => {
  it("starts at (0, 0) and is not a clustered leader", async () => {
    const res = await ctx.checkpoints.getCheckpoint({});
    expect(res.checkpoint?.serverVersion ?? 0n).toBe(0n);
    expect(res.checkpoint?.recordVersion ?? 0n).toBe(0n);
    expect(res.isLeader).toBe(false);
  });

  it("stores the pair exactly, values above 2^53 included", async () => {
    const serverVersion = 2n ** 63n + 12_345n;
    const recordVersion = 2n ** 53n + 1n;
    await ctx.checkpoints.setCheckpoint({ checkpoint: { serverVersion, recordVersion } });
    const res = await ctx.checkpoints.getCheckpoint({});
    expect(res.checkpoint?.serverVersion).toBe(serverVersion);
    expect(res.checkpoint?.recordVersion).toBe(recordVersion);
    await ctx.checkpoints.setCheckpoint({ checkpoint: { serverVersion: 3n, recordVersion: 4n } });
    const again = await ctx.checkpoints.getCheckpoint({});
    expect([again.checkpoint?.serverVersion, again.checkpoint?.recordVersion]).toEqual([3n, 4n]);
  });
});
