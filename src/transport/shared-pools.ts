import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { toErrorRecord, TransportError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { token } from './protocol.js';

/** What the bucket keeps of a pool: its limit as last declared, and the units each holder (a run) holds. */
interface Holdings {
  limit: number;
  holders: Record<string, number>;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * The holdings of shared resource pools, in a NATS KV bucket: every change is a compare-and-set
 * on the pool's key, so that supervisors of different runs and hosts never hold more than the
 * limit between them. A holder is a run: what a run whose supervisor died held stays held until
 * a recovery of that run gives it back.
 */
export class PoolLedger {
  private readonly watchers = new Map<string, Set<() => void>>();
  private stopWatching: (() => void) | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly holder: string,
    private readonly logger: Logger,
  ) {}

  /** Opens (or makes) the bucket of `prefix`'s shared pools, for the run `holder`. */
  static async open(nc: NatsConnection, prefix: string, holder: string, logger: Logger): Promise<PoolLedger> {
    try {
      const kv = await new Kvm(nc).create(`${prefix.toUpperCase().replace(/[^A-Z0-9_-]/g, '_')}_POOLS`, { history: 1 });
      const ledger = new PoolLedger(kv, holder, logger);
      await ledger.watch();
      return ledger;
    } catch (error) {
      throw new TransportError(`cannot open the bucket of shared resource pools (${toErrorRecord(error).message}): give the NATS account JetStream`, { cause: error });
    }
  }

  /**
   * Takes `amount` units of `pool` for this run if the holdings of every run leave room under
   * `limit`; resolves whether it did. A change by another supervisor in between makes it read
   * again, never hold more than the limit.
   */
  async take(pool: string, limit: number, amount: number): Promise<boolean> {
    return this.change(pool, limit, (holdings) => {
      const held = Object.values(holdings.holders).reduce((sum, units) => sum + units, 0);
      if (held + amount > limit) return undefined;
      holdings.holders[this.holder] = (holdings.holders[this.holder] ?? 0) + amount;
      return holdings;
    });
  }

  /** Gives back `amount` units of `pool` that this run holds. */
  async give(pool: string, limit: number, amount: number): Promise<void> {
    await this.change(pool, limit, (holdings) => {
      const left = (holdings.holders[this.holder] ?? 0) - amount;
      if (left > 0) holdings.holders[this.holder] = left;
      else delete holdings.holders[this.holder];
      return holdings;
    });
  }

  /** Gives back everything this run holds in `pool`: a recovery's tasks take again what they need. */
  async giveAll(pool: string, limit: number): Promise<number> {
    let given = 0;
    await this.change(pool, limit, (holdings) => {
      given = holdings.holders[this.holder] ?? 0;
      if (given === 0) return undefined;
      delete holdings.holders[this.holder];
      return holdings;
    });
    return given;
  }

  /** Calls `listener` whenever the holdings of `pool` change, here or elsewhere. */
  onChange(pool: string, listener: () => void): void {
    const key = token(pool);
    let listeners = this.watchers.get(key);
    if (!listeners) this.watchers.set(key, (listeners = new Set()));
    listeners.add(listener);
  }

  close(): void {
    this.stopWatching?.();
    this.watchers.clear();
  }

  private async watch(): Promise<void> {
    const iterator = await this.kv.watch({ key: '>' });
    this.stopWatching = () => iterator.stop();
    void (async () => {
      for await (const entry of iterator) for (const listener of this.watchers.get(entry.key) ?? []) listener();
    })().catch((error: unknown) => this.logger.warn(`stopped watching the shared resource pools: ${toErrorRecord(error).message}`));
  }

  /** Reads, changes and writes back a pool's holdings with compare-and-set, again until no one else changed them in between. */
  private async change(pool: string, limit: number, edit: (holdings: Holdings) => Holdings | undefined): Promise<boolean> {
    const key = token(pool);
    for (let attempt = 0; ; attempt++) {
      const entry = await this.kv.get(key);
      const exists = entry !== null && entry.operation === 'PUT';
      let holdings: Holdings = { limit, holders: {} };
      if (exists) {
        try {
          const stored = JSON.parse(decoder.decode(entry.value)) as Holdings;
          if (stored && typeof stored.holders === 'object') holdings = { limit, holders: { ...stored.holders } };
        } catch {
          this.logger.warn(`the holdings of shared pool ${pool} did not decode; they are taken as empty`);
        }
      }
      const edited = edit(holdings);
      if (!edited) return false;
      try {
        const data = encoder.encode(JSON.stringify(edited));
        if (entry) await this.kv.update(key, data, entry.revision);
        else await this.kv.create(key, data);
        return true;
      } catch (error) {
        // Someone else changed it first: read again.
        if (attempt > 100) throw new TransportError(`shared pool ${pool} changed under us more than 100 times in a row: ${toErrorRecord(error).message}`, { cause: error });
      }
    }
  }
}
