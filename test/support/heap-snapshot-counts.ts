/**
 * Counts what a V8 heap snapshot of this process holds: nodes per kind ("bigint", "string",
 * "object", ...) and objects per constructor name. For fixtures run as child processes, so the
 * test runner's own heap is not counted. Collect garbage first (--expose-gc) for live counts.
 */
import { getHeapSnapshot } from "node:v8";

export interface HeapCounts {
  /** Nodes per kind. */
  readonly kinds: ReadonlyMap<string, number>;
  /** Objects (kind "object") per constructor name. */
  readonly objects: ReadonlyMap<string, number>;
  /** The objects' own bytes (shallow size, not what they point to) per constructor name. */
  readonly objectBytes: ReadonlyMap<string, number>;
}

export async function heapSnapshotCounts(): Promise<HeapCounts> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snapshot = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const names = snapshot.snapshot.meta.node_types[0];
  const kinds = new Map<string, number>();
  const objects = new Map<string, number>();
  const objectBytes = new Map<string, number>();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const kind = names[snapshot.nodes[i + typeAt] as number] as string;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    if (kind !== "object") continue;
    const name = snapshot.strings[snapshot.nodes[i + nameAt] as number] as string;
    objects.set(name, (objects.get(name) ?? 0) + 1);
    objectBytes.set(name, (objectBytes.get(name) ?? 0) + (snapshot.nodes[i + sizeAt] as number));
  }
  return { kinds, objects, objectBytes };
}
