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
  private readonly store;

  constructor(name: string, { limit }: { limit: number }) {
    if (typeof name !== 'string' || !name) throw new ValidationError(`a resource pool needs a name, got ${JSON.stringify(name)}`);
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError(`resource pool '${name}' has limit ${String(limit)}: give it a whole number, 1 or more`);
    this.name = name;
    this.limit = limit;
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

  /** Whether `amount` more could be acquired now. */
  canAcquire(amount: number): boolean {
    return this.used + amount <= this.limit;
  }

  /** Acquires `amount` if there is room; returns whether it did. */
  tryAcquire(amount: number): boolean {
    const before = this.used;
    this.store.trigger.acquire({ amount });
    return this.used !== before || amount === 0;
  }

  release(amount: number): void {
    this.store.trigger.release({ amount });
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

/** Acquires every `[pool, amount]` or none of them. */
export function acquireAll(claims: readonly (readonly [ResourcePool, number])[]): boolean {
  const totals = new Map<ResourcePool, number>();
  for (const [pool, amount] of claims) totals.set(pool, (totals.get(pool) ?? 0) + amount);
  for (const [pool, amount] of totals) if (!pool.canAcquire(amount)) return false;
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
