import { createStore } from '@xstate/store';
import { DuplicateNameError, ValidationError } from '../model/errors.js';

/** What a pool holds: how many of its resources are in use. */
export interface PoolState {
  used: number;
  limit: number;
}

/**
 * A number of interchangeable resources (licences, connections, GPU slots) that steps acquire
 * before they start and release when they end. Built on `@xstate/store`: the store's updates are
 * synchronous, so acquiring from several pools at once cannot interleave.
 * @example
 * const db = new ResourcePool('db', { limit: 2 });
 * ev.addStep('load', { func: load, acquires: [[db, 1]] });
 */
export class ResourcePool {
  readonly name: string;
  readonly limit: number;
  /** Whether the limit holds across runs, supervisors and hosts, through the holdings NATS keeps. */
  readonly shared: boolean;
  private readonly store;
  private ledger: SharedLedger | undefined;
  private onLease: (() => void) | undefined;
  /** Units of a shared pool this run holds in the ledger, used or about to be. */
  private leased = 0;
  /** Units asked of the ledger and not answered yet. */
  private asking = 0;
  /** Units the ledger refused for want of room: asked again when the holdings change. */
  private unmet = 0;
  /** Give-backs to the ledger, one after the other. */
  private giving: Promise<void> = Promise.resolve();

  constructor(name: string, { limit, shared = false }: { limit: number; shared?: boolean }) {
    if (typeof name !== 'string' || !name) throw new ValidationError(`a resource pool needs a name, got ${JSON.stringify(name)}`);
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError(`resource pool '${name}' has limit ${String(limit)}: give it a whole number, 1 or more`);
    if (typeof shared !== 'boolean') throw new ValidationError(`resource pool '${name}' has shared ${String(shared)}: give true or false`);
    this.name = name;
    this.limit = limit;
    this.shared = shared;
    this.store = createStore({
      context: { used: 0 },
      on: {
        // No capacity: no change, so that a refused acquire emits nothing.
        acquire: (context, event: { amount: number }) => (context.used + event.amount > limit ? undefined : { used: context.used + event.amount }),
        release: (context, event: { amount: number }) => ({ used: Math.max(0, context.used - event.amount) }),
      },
    });
  }

  /** Resources in use now. */
  get used(): number {
    return this.store.getSnapshot().context.used;
  }

  /** Whether `amount` more could be acquired now: within the limit, and for a shared pool within what this run holds of it. */
  canAcquire(amount: number): boolean {
    if (this.shared) return this.used + amount <= this.leased;
    return this.used + amount <= this.limit;
  }

  /**
   * Binds a shared pool to the ledger that keeps its holdings; `onLease` is called when units
   * asked for arrive, so that the runtime offers the waiting tasks a start again. @internal
   */
  bindShared(ledger: SharedLedger, onLease: () => void): void {
    this.ledger = ledger;
    this.onLease = onLease;
    ledger.onChange(this.name, () => {
      if (this.unmet > 0 && this.asking === 0) this.request(this.unmet);
    });
  }

  /** A shared pool that cannot give `amount` now asks the ledger for what it lacks. @internal */
  request(amount: number): void {
    const ledger = this.ledger;
    if (!this.shared || !ledger) return;
    const need = this.used + amount - this.leased - this.asking;
    if (need <= 0) return;
    this.asking += need;
    this.unmet = 0;
    ledger.take(this.name, this.limit, need).then(
      (granted) => {
        this.asking -= need;
        if (granted) {
          this.leased += need;
          this.onLease?.();
        } else this.unmet = Math.max(this.unmet, need);
      },
      () => {
        this.asking -= need;
        this.unmet = Math.max(this.unmet, need);
      },
    );
  }

  /** Gives back to the ledger every unit this run holds and does not use (at the end of a run). @internal */
  async giveBackIdle(): Promise<void> {
    await this.giving;
    const idle = this.leased - this.used;
    if (!this.ledger || idle <= 0) return;
    this.leased -= idle;
    await this.ledger.give(this.name, this.limit, idle);
  }

  /** Acquires `amount` if there is room; returns whether it did. */
  tryAcquire(amount: number): boolean {
    const before = this.used;
    this.store.trigger.acquire({ amount });
    return this.used !== before || amount === 0;
  }

  release(amount: number): void {
    const before = this.used;
    this.store.trigger.release({ amount });
    const freed = before - this.used;
    const ledger = this.ledger;
    if (!this.shared || !ledger || freed <= 0) return;
    // A shared pool's units go back to the ledger at once, for whichever run waits for them.
    this.leased -= freed;
    this.giving = this.giving.then(() => ledger.give(this.name, this.limit, freed)).catch(() => undefined);
  }

  /** Calls `listener` with the pool's state on every change; returns the function that stops it. */
  subscribe(listener: (state: PoolState) => void): () => void {
    const subscription = this.store.subscribe((snapshot) => listener({ used: snapshot.context.used, limit: this.limit }));
    return () => subscription.unsubscribe();
  }

  /** The pool's state as plain data. */
  state(): PoolState {
    return { used: this.used, limit: this.limit };
  }
}

/** Where a shared pool's holdings are kept, across runs and hosts (a NATS KV bucket). */
export interface SharedLedger {
  take(pool: string, limit: number, amount: number): Promise<boolean>;
  give(pool: string, limit: number, amount: number): Promise<void>;
  onChange(pool: string, listener: () => void): void;
}

/** Acquires every `[pool, amount]` or none of them. */
export function acquireAll(claims: readonly (readonly [ResourcePool, number])[]): boolean {
  const totals = new Map<ResourcePool, number>();
  for (const [pool, amount] of claims) totals.set(pool, (totals.get(pool) ?? 0) + amount);
  let ok = true;
  for (const [pool, amount] of totals) {
    if (pool.canAcquire(amount)) continue;
    ok = false;
    // A shared pool may get the units from the ledger: it asks, and the task is offered a start again when they come.
    if (pool.shared) pool.request(amount);
  }
  if (!ok) return false;
  for (const [pool, amount] of totals) pool.tryAcquire(amount);
  return true;
}

/**
 * A step's `[pool, amount]` claims as the FlowSpec keeps them, `[pool name, amount]`, adding each
 * pool to `pools`: a claim that is not a ResourcePool, or a second pool under a name already
 * taken, is refused naming the step.
 */
export function claimsByName(step: string, key: 'acquires' | 'releases', claims: readonly [ResourcePool, number][] | undefined, pools: Map<string, ResourcePool>): [string, number][] | undefined {
  return claims?.map(([pool, amount]): [string, number] => {
    if (!(pool instanceof ResourcePool)) throw new ValidationError(`step '${step}' ${key} ${String(pool)} where a ResourcePool is needed: make one with new ResourcePool(name, { limit })`);
    const known = pools.get(pool.name);
    if (known && known !== pool) throw new DuplicateNameError('resource pool', pool.name);
    pools.set(pool.name, pool);
    return [pool.name, amount];
  });
}
