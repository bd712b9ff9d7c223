import { describe, expect, it } from "vitest";
import { progressBar } from "../../src/cli/progress-bar.js";
import type { StatusSample } from "../../src/cli/status-sampler.js";
import { statusBlock, statusLine, statusScreen } from "../../src/cli/status-screen.js";

/** A stand-in for process.stdout: records writes; TTY or not, with a width. */
function fakeOut(isTTY: boolean, columns = 120): NodeJS.WriteStream & { text: string } {
  const out = { isTTY, columns, text: "", write(chunk: string) { out.text += chunk; return true; } };
  return out as unknown as NodeJS.WriteStream & { text: string };
}

const sample: StatusSample = {
  uptimeMs: 2_500,
  url: "http://127.0.0.1:5443",
  serverVersion: 42n,
  types: [
    { type: "type.googleapis.com/session.Session", records: 10_000, state: "live", recordVersion: 11_000n },
    { type: "type.googleapis.com/user.User", records: 1_000, state: "backing-off", recordVersion: 1_000n },
  ],
  cacheRecordVersion: 11_000n,
  serverRecordVersion: 11_003n,
  lagVersions: 3n,
  lagMs: 4.25,
  changesPerSecond: 199.6,
  lookupsPerSecond: 48_321.4,
  hitRate: 0.9,
  writesPerSecond: 200,
  reconnects: 1,
  rssBytes: 200 * 1024 * 1024,
  heapUsedBytes: 50 * 1024 * 1024,
  heapTotalBytes: 80 * 1024 * 1024,
};

describe("status rendering", () => {
  it("the plain line carries every figure, with bigint versions and non-live states marked", () => {
    expect(statusLine(sample)).toBe(
      "status t=2.5s session.Session=10000 user.User=1000(backing-off) server_version=42 record_version=11000/11003 " +
        "lag=3(4.3ms) changes/s=200 lookups/s=48,321 reconnects=1 rss=200MB heap=50MB",
    );
  });

  it("the TTY block shows records per type, versions and lag, rates, reconnects and memory", () => {
    const block = statusBlock(sample).join("\n");
    expect(block).toContain("record version  cache 11000   server 11003   lag 3 versions (4.3 ms write to cache)");
    expect(block).toMatch(/records +session\.Session +10,000 +live/);
    expect(block).toMatch(/user\.User +1,000 +backing-off/);
    expect(block).toContain("lookups/s       48,321   (90.0% valid sessions)");
    expect(block).toContain("reconnects      1");
    expect(block).toContain("memory          rss 200 MB   heap 50 MB / 80 MB");
  });

  it("on a TTY each refresh moves the cursor up over the previous block and clears it", () => {
    const out = fakeOut(true);
    const screen = statusScreen(out, "title");
    screen.show(sample);
    const first = out.text;
    screen.show(sample);
    screen.close();
    const lines = statusBlock(sample).length + 1;
    expect(first).not.toContain("\x1b[F");
    expect(out.text.slice(first.length)).toMatch(new RegExp(`^\\x1b\\[${lines}F\\x1b\\[J`));
    expect(out.text.endsWith("\x1b[?25h")).toBe(true);
  });

  it("on a narrow TTY lines are cut to the width so the redraw stays in place", () => {
    const out = fakeOut(true, 40);
    statusScreen(out, "t").show(sample);
    for (const line of out.text.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, "").split("\n")) expect(line.length).toBeLessThanOrEqual(39);
  });

  it("without a TTY the status is one plain line per refresh, no escape codes", () => {
    const out = fakeOut(false);
    const screen = statusScreen(out, "title");
    screen.show(sample);
    screen.show(sample);
    expect(out.text.split("\n").filter(Boolean)).toEqual([statusLine(sample), statusLine(sample)]);
    expect(out.text).not.toContain("\x1b");
  });

  it("the progress bar prints quarters without a TTY and redraws in place on one", () => {
    const plain = fakeOut(false);
    const bar = progressBar(plain, "sync", 100);
    for (let n = 0; n <= 100; n += 5) bar.update(n);
    bar.finish();
    expect(plain.text.split("\n").filter(Boolean)).toEqual([
      `sync [${".".repeat(30)}]   0% 0/100`,
      `sync [${"#".repeat(8)}${".".repeat(22)}]  25% 25/100`,
      `sync [${"#".repeat(15)}${".".repeat(15)}]  50% 50/100`,
      `sync [${"#".repeat(23)}${".".repeat(7)}]  75% 75/100`,
      `sync [${"#".repeat(30)}] 100% 100/100`,
    ]);
    const tty = fakeOut(true);
    const live = progressBar(tty, "sync", 10);
    live.update(5);
    live.finish("done");
    expect(tty.text).toContain(`\rsync [${"#".repeat(15)}${".".repeat(15)}]  50% 5/10\x1b[K`);
    expect(tty.text.endsWith(`\rsync [${"#".repeat(30)}] 100% 10/10  done\x1b[K\n`)).toBe(true);
  });
});
