/** Something that becomes due at an absolute time (ms since the epoch). */
export interface Due {
  readonly dueAt: number;
}

/** A binary min-heap by due time: the supervisor keeps one timer, for the earliest item. */
export class DueQueue<T extends Due> {
  private readonly heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): T | undefined {
    return this.heap[0];
  }

  push(item: T): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].dueAt <= item.dueAt) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = item;
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        const smallestDue = () => (smallest === i ? last.dueAt : heap[smallest].dueAt);
        if (left < heap.length && heap[left].dueAt < smallestDue()) smallest = left;
        if (right < heap.length && heap[right].dueAt < smallestDue()) smallest = right;
        if (smallest === i) break;
        heap[i] = heap[smallest];
        i = smallest;
      }
      heap[i] = last;
    }
    return top;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    yield* this.heap;
  }
}
