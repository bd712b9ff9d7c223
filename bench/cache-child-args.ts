/**
 * The command line of one cache child (bench/ts-cache-measure.ts): Node's flags (a full collection
 * on demand; a larger old generation for 500k sessions and more; a CPU profile when asked) and the
 * child's own options. For `runChildForJson` with `process.execPath`.
 */
import { fileURLToPath } from "node:url";

const MEASURE_SCRIPT = fileURLToPath(new URL("./ts-cache-measure.ts", import.meta.url));

export interface CacheChild {
  readonly url: string;
  readonly sessions: number;
  readonly users: number;
  readonly propCount: number;
  readonly runTag: string;
  readonly projection: "full" | "lean";
  /** The cache's transport; the child's default when undefined. */
  readonly transport?: string;
  /** Record the sync's longest event-loop gaps (bench/event-loop-gaps.ts). */
  readonly gaps?: boolean;
  /** Write a CPU profile into this directory. */
  readonly profDir?: string;
}

export function cacheChildArgs(child: CacheChild): string[] {
  const nodeArgs = ["--expose-gc"];
  if (child.sessions >= 500_000) nodeArgs.push("--max-old-space-size=8192");
  // 250 us samples: fine enough to tell what ran inside one event-loop gap (bench/profile-in-gaps.ts).
  if (child.profDir !== undefined) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${child.profDir}`, "--cpu-prof-interval", "250");
  return [
    ...nodeArgs,
    "--import",
    "tsx",
    MEASURE_SCRIPT,
    "--url",
    child.url,
    "--sessions",
    String(child.sessions),
    "--users",
    String(child.users),
    "--prop-count",
    String(child.propCount),
    "--run-tag",
    child.runTag,
    "--projection",
    child.projection,
    ...(child.transport === undefined ? [] : ["--transport", child.transport]),
    ...(child.gaps === true ? ["--gaps"] : []),
  ];
}
