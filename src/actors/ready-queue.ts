import { Fifo } from '../model/fifo.js';

/** Something that waits to start: the step it belongs to, and when it became ready. */
export interface Queued {
  readonly step: string;
  readonly order: number;
}

/**
 * Ready tasks in the order they became ready. `take` gives the earliest task whose step may
 * start another one, so that a step at its own limit does not hold up the others.
 */
export class ReadyQueue<T extends Queued> {
  private readonly main = new Fifo<T>();
  /** Tasks taken off `main` while their step was at its limit, per step, still in order. */
  private readonly parked = new Map<string, Fifo<T>>();
  private parkedCount = 0;

  get size(): number {
    return this.main.size + this.parkedCount;
  }

  push(item: T): void {
    this.main.push(item);
  }

  /** Removes and returns the earliest item whose step `canStart`, or undefined. */
  take(canStart: (step: string) => boolean): T | undefined {
    let best: T | undefined;
    let bestQueue: Fifo<T> | undefined;
    for (const [step, queue] of this.parked) {
      const head = queue.peek() as T;
      if ((!best || head.order < best.order) && canStart(step)) {
        best = head;
        bestQueue = queue;
      }
    }
    let head = this.main.peek();
    while (head && !canStart(head.step)) {
      this.park(this.main.shift() as T);
      head = this.main.peek();
    }
    if (head && (!best || head.order < best.order)) return this.main.shift();
    if (best && bestQueue) {
      bestQueue.shift();
      this.parkedCount--;
      if (bestQueue.size === 0) this.parked.delete(best.step);
    }
    return best;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (const queue of this.parked.values()) yield* queue;
    yield* this.main;
  }

  private park(item: T): void {
    let queue = this.parked.get(item.step);
    if (!queue) this.parked.set(item.step, (queue = new Fifo()));
    queue.push(item);
    this.parkedCount++;
  }
}
