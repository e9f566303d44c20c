import { EventorError } from '../model/errors.js';

/** A step waiting inside its code for the first of some events, each key an event and sequence. */
interface Waiter {
  readonly keys: readonly string[];
  readonly resolve: (event: string | undefined) => void;
  readonly reject: (error: unknown) => void;
  /** The step whose code waits, if known: it holds no concurrency slot while it waits. */
  readonly step?: string;
}

/**
 * Steps waiting inside their code for events (`waitForEvent`), by event-and-sequence key.
 * A waiting step is *parked*: the supervisor does not count it against the concurrency
 * limits, so that the steps it waits for can start.
 */
export class EventWaiters {
  private readonly byKey = new Map<string, Waiter[]>();
  private readonly parkedByStep = new Map<string, number>();
  /** Steps waiting now. */
  size = 0;
  /** Of those, the ones whose step is known, and so hold no slot. */
  parked = 0;

  /** Waits for the first of `keys` to fire; `step` names the waiting step, if it is one. */
  wait(keys: readonly string[], step?: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { keys, resolve, reject, step };
      for (const key of keys) this.byKey.set(key, [...(this.byKey.get(key) ?? []), waiter]);
      this.size++;
      if (step !== undefined) {
        this.parked++;
        this.parkedByStep.set(step, (this.parkedByStep.get(step) ?? 0) + 1);
      }
    });
  }

  /** Waiting tasks of `step` that hold no slot. */
  parkedOf(step: string): number {
    return this.parkedByStep.get(step) ?? 0;
  }

  /** `event` fired under `key`: the steps waiting for it go on. */
  fire(key: string, event: string): void {
    if (this.size === 0) return;
    for (const waiter of this.byKey.get(key) ?? []) {
      this.drop(waiter);
      waiter.resolve(event);
    }
  }

  /** Ends every wait: with undefined (nothing left could fire the events) or an error (the run stopped). */
  releaseAll(stopped: string | undefined): void {
    for (const waiter of new Set([...this.byKey.values()].flat())) {
      this.drop(waiter);
      if (stopped === undefined) waiter.resolve(undefined);
      else waiter.reject(new EventorError(stopped));
    }
  }

  private drop(waiter: Waiter): void {
    for (const key of waiter.keys) {
      const rest = (this.byKey.get(key) ?? []).filter((other) => other !== waiter);
      if (rest.length) this.byKey.set(key, rest);
      else this.byKey.delete(key);
    }
    this.size--;
    if (waiter.step !== undefined) {
      this.parked--;
      this.parkedByStep.set(waiter.step, (this.parkedByStep.get(waiter.step) ?? 1) - 1);
    }
  }
}
