/** A min-heap of (limit, id): the next session to expire first. Entries may be outdated; callers check. */
export interface ExpiryEntry {
  readonly limitMs: number;
  readonly id: string;
}

export class ExpiryQueue {
  readonly #heap: ExpiryEntry[] = [];

  get size(): number {
    return this.#heap.length;
  }

  peek(): ExpiryEntry | undefined {
    return this.#heap[0];
  }

  push(entry: ExpiryEntry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.limitMs <= entry.limitMs) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  pop(): ExpiryEntry | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.limitMs < heap[left]!.limitMs ? right : left;
      if (heap[child]!.limitMs >= last.limitMs) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }

  clear(): void {
    this.#heap.length = 0;
  }
}
