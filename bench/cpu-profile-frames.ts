/**
 * Reading a V8 CPU profile (`--cpu-prof`, or the inspector's Profiler.stop) for the bench's
 * summaries: each sample's frame as a short label, and the innermost frame of this repository
 * (src/ or gen/, not a dependency) on the sample's stack.
 */

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock (present in --cpu-prof files). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** `function path:line`, the path from the repository's top folder (or node_modules) on. */
export function frameLabel(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || "(anonymous)"} ${url.replace(/^.*\/(src|bench|gen|node_modules)\//, "$1/")}:${lineNumber + 1}`;
}

/** The profile's nodes by id, and for any node the label of the innermost frame of ours at or above it. */
export function indexProfile(profile: Pick<CpuProfile, "nodes">): { node(id: number): ProfileNode; ownerLabel(node: ProfileNode): string } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ours = (n: ProfileNode) => /\/(src|gen)\//.test(n.callFrame.url) && !n.callFrame.url.includes("node_modules");
  return {
    node: (id) => byId.get(id) as ProfileNode,
    ownerLabel(node) {
      let up: ProfileNode | undefined = node;
      while (up !== undefined && !ours(up)) up = byId.get(parent.get(up.id) ?? -1);
      return up === undefined ? "(none of ours)" : frameLabel(up);
    },
  };
}
