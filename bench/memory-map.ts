/**
 * Where a process's resident memory lies, from Linux's /proc/self/smaps and V8's heap spaces:
 * the malloc arena's main segment ("[heap]": C/C++ allocations of Node, V8 and the libraries,
 * and what malloc keeps after they are freed), anonymous mappings (V8's heap pages, large
 * buffers, other threads' malloc arenas), file-backed mappings (Node's binary and the shared
 * libraries) and the stacks; beside them, what V8 says it has committed for its heap and what it
 * counts as array buffer memory. All in bytes. Undefined where /proc is not there (not Linux).
 */
import { readFileSync } from "node:fs";
import { getHeapSpaceStatistics } from "node:v8";

export interface MemoryMap {
  /** Resident bytes of all mappings (the process's RSS as smaps sums it). */
  readonly residentBytes: number;
  /** Resident bytes of the main malloc arena's segment (`[heap]`). */
  readonly mallocHeapBytes: number;
  /** Resident bytes of anonymous mappings other than `[heap]` and the stacks. */
  readonly anonymousBytes: number;
  /** Resident bytes of file-backed mappings (the node binary, shared libraries). */
  readonly fileBytes: number;
  /** Resident bytes of `[stack]` and other special mappings (`[vdso]` and the like). */
  readonly otherBytes: number;
  /** V8's committed heap memory, all spaces. */
  readonly v8CommittedBytes: number;
  /** V8's committed memory for the young generation (new space). */
  readonly v8YoungCommittedBytes: number;
  /** `process.memoryUsage().arrayBuffers`: ArrayBuffer memory V8 counts (not SharedArrayBuffers). */
  readonly arrayBuffersBytes: number;
}

export function memoryMap(): MemoryMap | undefined {
  let smaps: string;
  try {
    smaps = readFileSync("/proc/self/smaps", "utf8");
  } catch {
    return undefined;
  }
  let mallocHeap = 0;
  let anonymous = 0;
  let file = 0;
  let other = 0;
  let kind: "heap" | "anon" | "file" | "other" = "other";
  for (const line of smaps.split("\n")) {
    // A mapping's header: "start-end perms offset dev inode [path]".
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header !== null) {
      const path = header[1] ?? "";
      kind = path === "[heap]" ? "heap" : path === "" ? "anon" : path.startsWith("[") ? "other" : "file";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss === null) continue;
    const bytes = Number(rss[1]) * 1024;
    if (kind === "heap") mallocHeap += bytes;
    else if (kind === "anon") anonymous += bytes;
    else if (kind === "file") file += bytes;
    else other += bytes;
  }
  const spaces = getHeapSpaceStatistics();
  return {
    residentBytes: mallocHeap + anonymous + file + other,
    mallocHeapBytes: mallocHeap,
    anonymousBytes: anonymous,
    fileBytes: file,
    otherBytes: other,
    v8CommittedBytes: spaces.reduce((sum, s) => sum + s.space_size, 0),
    v8YoungCommittedBytes: spaces.filter((s) => s.space_name === "new_space").reduce((sum, s) => sum + s.space_size, 0),
    arrayBuffersBytes: process.memoryUsage().arrayBuffers,
  };
}
