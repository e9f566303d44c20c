import { DueQueue, type Due } from './due-queue.js';

/** Longest a Node timer may wait; later due times are reached in several waits. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Things waiting for an absolute due time (delayed tasks and events, retries), with one Node
 * timer for the earliest of them. The timer is set only while someone wants to be woken, so
 * that a run that ended with delays pending lets the process exit.
 */
export class Delays<T extends Due> implements Iterable<T> {
  private readonly queue = new DueQueue<T>();
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = Infinity;

  constructor(private readonly onDue: () => void) {}

  get size(): number {
    return this.queue.size;
  }

  push(item: T): void {
    this.queue.push(item);
  }

  /** Removes and returns, earliest first, everything due by `now`. */
  takeDue(now: number): T[] {
    const due: T[] = [];
    for (let item = this.queue.peek(); item && item.dueAt <= now; item = this.queue.peek()) due.push(this.queue.pop() as T);
    return due;
  }

  /** Sets the timer for the earliest item, unless one is set for that time or earlier. */
  arm(): void {
    const next = this.queue.peek();
    if (!next) return this.disarm();
    if (this.timer && this.timerDueAt <= next.dueAt) return;
    this.disarm();
    this.timerDueAt = next.dueAt;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDueAt = Infinity;
      this.onDue();
    }, Math.min(Math.max(0, next.dueAt - Date.now()), MAX_TIMER_MS));
  }

  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDueAt = Infinity;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.queue[Symbol.iterator]();
  }
}
