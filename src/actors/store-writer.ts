import type { StoreRecord } from '../model/records.js';
import type { Store } from '../store/store.js';

/**
 * Gathers the records of one turn of the event loop and writes them as one batch, one batch
 * after the other. A store that keeps nothing (memory) is written at once: there is nothing
 * to wait for, and so no turn to lose.
 */
export class StoreWriter {
  private pending: StoreRecord[] = [];
  /** Resolves when the batch now being gathered is written. */
  private pendingWritten: Promise<void> | undefined;
  private resolvePending: (() => void) | undefined;
  private rejectPending: ((error: unknown) => void) | undefined;
  /** The batch being written, if any: the next one waits for it. */
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
   * A promise that resolves once every record added so far is in the store, or undefined when
   * they already are. Recovery relies on awaiting it before a task's code starts.
   */
  written(): Promise<void> | undefined {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.pending.length === 0) return this.inFlight;
    this.pendingWritten ??= new Promise<void>((resolve, reject) => {
      this.resolvePending = resolve;
      this.rejectPending = reject;
    });
    return this.pendingWritten;
  }

  /** Writes what is pending now, without waiting for the end of the turn. */
  flush(): Promise<void> | undefined {
    this.writePending();
    return this.written();
  }

  /** Takes no more records: what is pending is dropped, so flush first. */
  close(): void {
    this.closed = true;
    this.pending = [];
  }

  private writePending(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    const resolve = this.resolvePending;
    const reject = this.rejectPending;
    this.pending = [];
    this.pendingWritten = this.resolvePending = this.rejectPending = undefined;
    const previous = this.inFlight;
    const write = (async () => {
      if (previous) await previous;
      await this.store.write(batch);
    })();
    const tracked = write.then(
      () => {
        if (this.inFlight === tracked) this.inFlight = undefined;
        resolve?.();
      },
      (error: unknown) => {
        this.failure ??= error;
        reject?.(error);
        this.onError(error);
        throw error;
      },
    );
    tracked.catch(() => {});
    this.inFlight = tracked;
  }
}
