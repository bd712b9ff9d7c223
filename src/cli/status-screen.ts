/**
 * Renders status samples. On a TTY the block is redrawn in place (cursor up, clear to the end);
 * otherwise each sample is one plain line, so a log or a pipe gets a readable time series.
 */
import type { DemoWriterCounts } from "./demo-writer.js";
import { shortTypeName } from "./record-type-names.js";
import type { StatusSample } from "./status-sampler.js";

export interface StatusScreen {
  show(sample: StatusSample, writer?: DemoWriterCounts): void;
  /** Leaves the last block on screen and restores the cursor. */
  close(): void;
}

export function statusScreen(out: NodeJS.WriteStream, title: string): StatusScreen {
  if (out.isTTY === true) return new InPlaceScreen(out, title);
  return { show: (sample, writer) => out.write(`${statusLine(sample, writer)}\n`), close: () => {} };
}

class InPlaceScreen implements StatusScreen {
  #lines = 0;
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly title: string,
  ) {
    out.write("\x1b[?25l"); // hide the cursor while redrawing
  }

  show(sample: StatusSample, writer?: DemoWriterCounts): void {
    // Lines wider than the terminal would wrap and break the cursor-up count: cut them.
    // (A pseudo-terminal without a size reports 0 columns: then lines are left whole.)
    const columns = this.out.columns ?? 0;
    const width = columns > 20 ? columns - 1 : Number.POSITIVE_INFINITY;
    const lines = [this.title, ...statusBlock(sample, writer)].map((line) => line.slice(0, width));
    const up = this.#lines > 0 ? `\x1b[${this.#lines}F` : "";
    this.out.write(`${up}\x1b[J${lines.join("\n")}\n`);
    this.#lines = lines.length;
  }

  close(): void {
    this.out.write("\x1b[?25h");
  }
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
const rate = (n: number) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1));
const version = (v: bigint | undefined) => (v === undefined ? "?" : v.toString());

function lagText(sample: StatusSample): string {
  const ms = sample.lagMs === undefined ? "" : ` (${sample.lagMs.toFixed(1)} ms write to cache)`;
  return `${version(sample.lagVersions)} versions${ms}`;
}

/** The multi-line block shown on a TTY. */
export function statusBlock(sample: StatusSample, writer?: DemoWriterCounts): string[] {
  const width = Math.max(0, ...sample.types.map((t) => shortTypeName(t.type).length));
  const lines = [
    `  databroker      ${sample.url ?? "?"}   server version ${version(sample.serverVersion)}`,
    `  record version  cache ${version(sample.cacheRecordVersion)}   server ${version(sample.serverRecordVersion)}   lag ${lagText(sample)}`,
    ...sample.types.map(
      (t, i) => `  ${i === 0 ? "records       " : "              "}  ${shortTypeName(t.type).padEnd(width)}  ${t.records.toLocaleString("en-US").padStart(9)}   ${t.state}`,
    ),
    `  changes/s       ${rate(sample.changesPerSecond)}${sample.writesPerSecond === undefined ? "" : `   (writer: ${rate(sample.writesPerSecond)}/s)`}`,
    `  lookups/s       ${rate(sample.lookupsPerSecond)}${sample.hitRate === undefined ? "" : `   (${(sample.hitRate * 100).toFixed(1)}% valid sessions)`}`,
    `  reconnects      ${sample.reconnects}`,
    `  memory          rss ${mb(sample.rssBytes)}   heap ${mb(sample.heapUsedBytes)} / ${mb(sample.heapTotalBytes)}`,
  ];
  if (writer !== undefined) {
    lines.push(`  writer totals   ${writer.signIns} sign-ins, ${writer.refreshes} refreshes, ${writer.signOuts} sign-outs, ${writer.expiries} expiries${writer.errors > 0 ? `, ${writer.errors} failed puts` : ""}`);
  }
  return lines;
}

/** The one-line form for non-TTY output. */
export function statusLine(sample: StatusSample, writer?: DemoWriterCounts): string {
  const records = sample.types.map((t) => `${shortTypeName(t.type)}=${t.records}${t.state === "live" ? "" : `(${t.state})`}`).join(" ");
  const parts = [
    `status t=${(sample.uptimeMs / 1000).toFixed(1)}s`,
    records,
    `server_version=${version(sample.serverVersion)}`,
    `record_version=${version(sample.cacheRecordVersion)}/${version(sample.serverRecordVersion)}`,
    `lag=${version(sample.lagVersions)}${sample.lagMs === undefined ? "" : `(${sample.lagMs.toFixed(1)}ms)`}`,
    `changes/s=${rate(sample.changesPerSecond)}`,
    `lookups/s=${rate(sample.lookupsPerSecond)}`,
    `reconnects=${sample.reconnects}`,
    `rss=${mb(sample.rssBytes).replace(" ", "")}`,
    `heap=${mb(sample.heapUsedBytes).replace(" ", "")}`,
  ];
  if (writer !== undefined) parts.push(`sign_ins=${writer.signIns} refreshes=${writer.refreshes} sign_outs=${writer.signOuts} expiries=${writer.expiries}`);
  return parts.join(" ");
}
