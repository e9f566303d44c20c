import type { StoreRecord } from '../model/records.js';
import type { Store } from '../store/store.js';

/**
 * Gathers the records of one turn of the event loop and writes them as one batch, one batch
 * after the other. A store whose `write` returns nothing has the batch when the call returns
 * (memory; LevelDB through its write-ahead log), so nothing waits for it; a store that answers
 * with a promise is waited for, batch after batch. A store that keeps nothing (memory) is
 * written at once, record by record: there is nothing to wait for, and so no turn to lose.
 */
export class StoreWriter {
  private pending: StoreRecord[] = [];
  /** The batch being written by a store that answers later, if any: the next one waits for it. */
  private inFlight: Promise<void> | undefined;
  private failure: unknown;
  /** Set by close(): the store is about to close, and a step abandoned by it must not write. */
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly onError: (error: unknown) => void,
  ) {}

  add(record: StoreRecord): void {
    // After a failed write the run has ended with its error; later records have nowhere to go.
    if (this.closed || this.failure !== undefined) return;
    if (!this.store.durable) {
      this.store.write([record]);
      return;
    }
    this.pending.push(record);
    if (this.pending.length === 1) queueMicrotask(() => this.writePending());
  }

  /**
   * Writes what is pending now, and gives a promise that resolves once every record added so
   * far is in the store, or undefined when it already is. Recovery relies on it before a
   * task's code starts.
   */
  written(): Promise<void> | undefined {
    this.writePending();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return this.inFlight;
  }

  /** Writes what is pending now, without waiting for the end of the turn. */
  flush(): Promise<void> | undefined {
    return this.written();
  }

  /** Takes no more records: what is pending is dropped, so flush first. */
  close(): void {
    this.closed = true;
    this.pending = [];
  }

  private writePending(): void {
    if (this.pending.length === 0 || this.failure !== undefined) return;
    const batch = this.pending;
    this.pending = [];
    const previous = this.inFlight;
    if (!previous) {
      let answer: Promise<void> | void;
      try {
        answer = this.store.write(batch);
      } catch (error) {
        return this.fail(error);
      }
      if (answer) this.track(answer);
      return;
    }
    this.track(previous.then(() => this.store.write(batch)));
  }

  private track(write: Promise<void>): void {
    const tracked: Promise<void> = write.then(
      () => {
        if (this.inFlight === tracked) this.inFlight = undefined;
      },
      (error: unknown) => {
        this.fail(error);
        throw error;
      },
    );
    tracked.catch(() => {});
    this.inFlight = tracked;
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.pending = [];
    this.onError(error);
  }
}
