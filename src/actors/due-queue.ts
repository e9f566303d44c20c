/** Something that becomes due at an absolute time (ms since the epoch). */
export interface Due {
  readonly dueAt: number;
}

/** A heap entry: the item, and the order it was pushed in, which breaks ties of due time. */
interface Entry<T> {
  readonly item: T;
  readonly dueAt: number;
  readonly order: number;
}

const before = <T>(a: Entry<T>, b: Entry<T>) => a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.order < b.order);

/**
 * A binary min-heap by due time: the supervisor keeps one timer, for the earliest item. Items
 * due at the same time come out in the order they went in, so that tasks triggered together
 * with the same delay start in the order they were triggered.
 */
export class DueQueue<T extends Due> {
  private readonly heap: Entry<T>[] = [];
  private pushed = 0;

  get size(): number {
    return this.heap.length;
  }

  peek(): T | undefined {
    return this.heap[0]?.item;
  }

  push(item: T): void {
    const heap = this.heap;
    const entry: Entry<T> = { item, dueAt: item.dueAt, order: this.pushed++ };
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
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
        let smallest = last;
        let at = i;
        if (left < heap.length && before(heap[left], smallest)) [smallest, at] = [heap[left], left];
        if (right < heap.length && before(heap[right], smallest)) [smallest, at] = [heap[right], right];
        if (at === i) break;
        heap[i] = smallest;
        i = at;
      }
      heap[i] = last;
    }
    return top?.item;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (const entry of this.heap) yield entry.item;
  }
}
