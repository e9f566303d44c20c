import type { StoreRecord } from '../model/records.js';
import type { Store } from '../store/store.js';

/**
 * Gathers the records of one turn of the event loop and writes them as one batch.
 * `flush` returns a promise only when there is a write to wait for, so that a store that
 * writes synchronously costs no extra turn.
 */
export class StoreWriter {
  private pending: StoreRecord[] = [];
  private scheduled = false;
  private inFlight: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    private readonly store: Store,
    private readonly onError: (error: unknown) => void,
  ) {}

  add(record: StoreRecord): void {
    this.pending.push(record);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => void this.flush());
    }
  }

  /** Writes what is pending; resolves when it, and any earlier write, is in the store. */
  flush(): Promise<void> | undefined {
    this.scheduled = false;
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending.length === 0) return this.inFlight;
    const batch = this.pending;
    this.pending = [];
    const previous = this.inFlight;
    const write = async () => {
      if (previous) await previous;
      await this.store.write(batch);
    };
    if (!previous) {
      const result = this.store.write(batch);
      if (!result) return undefined;
      this.inFlight = this.track(result);
    } else {
      this.inFlight = this.track(write());
    }
    return this.inFlight;
  }

  private track(write: Promise<void>): Promise<void> {
    const tracked = write.then(
      () => {
        if (this.inFlight === tracked) this.inFlight = undefined;
      },
      (error: unknown) => {
        this.failure = error;
        this.onError(error);
        throw error;
      },
    );
    tracked.catch(() => {});
    return tracked;
  }
}
