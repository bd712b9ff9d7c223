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

/** The parts of a V8 heap snapshot (its JSON) that {@link forEachHeapNode} reads. */
export interface HeapSnapshotJson {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: [string[], ...unknown[]] } };
  readonly nodes: number[];
  readonly strings: string[];
}

/** Calls `fn` with each node of a snapshot: its kind ("object", "string", ...), its name and its own bytes. */
export function forEachHeapNode(snapshot: HeapSnapshotJson, fn: (kind: string, name: string, selfBytes: number) => void): void {
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const kindNames = snapshot.snapshot.meta.node_types[0];
  const nodes = snapshot.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    fn(kindNames[nodes[i + typeAt] as number] as string, snapshot.strings[nodes[i + nameAt] as number] as string, nodes[i + sizeAt] as number);
  }
}

export async function heapSnapshotCounts(): Promise<HeapCounts> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snapshot = JSON.parse(Buffer.concat(chunks).toString("utf8")) as HeapSnapshotJson;
  const kinds = new Map<string, number>();
  const objects = new Map<string, number>();
  const objectBytes = new Map<string, number>();
  forEachHeapNode(snapshot, (kind, name, selfBytes) => {
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    if (kind !== "object") return;
    objects.set(name, (objects.get(name) ?? 0) + 1);
    objectBytes.set(name, (objectBytes.get(name) ?? 0) + selfBytes);
  });
  return { kinds, objects, objectBytes };
}
