import { join } from 'node:path';
import { StoreError } from '../model/errors.js';
import { LevelStore, type LevelStoreOptions } from './level-store.js';
import { MemoryStore } from './memory-store.js';
import { NatsStore, type NatsStoreSettings } from './nats-store.js';
import type { Store } from './store.js';

/** The folder a flow keeps its runs in when no store is given: `.eventor/<name>` here. */
export function defaultStoreFolder(name: string): string {
  return join(process.cwd(), '.eventor', name);
}

/** How createStore makes the store a location names. */
export interface CreateStoreOptions extends Pick<LevelStoreOptions, 'durability'> {
  /**
   * Credentials and TLS for a `nats://` store (the runtime passes `config.nats`); a user and
   * password in the store's URL take precedence. Ignored by the other stores.
   */
  nats?: NatsStoreSettings;
  /** A `nats://` store opened to read only, without its lock (see NatsStoreOptions.readOnly); a LevelDB folder has no such mode. */
  readOnly?: boolean;
}

/**
 * The store a location names: ':memory:', 'nats://host:port/bucket' (a JetStream KV bucket,
 * shared between hosts), or a LevelDB folder (kept with `options.durability`, 'process' by default).
 */
export function createStore(location: string, options: CreateStoreOptions = {}): Store {
  if (location === ':memory:') return new MemoryStore();
  if (/^nats:\/\//i.test(location)) return new NatsStore(location, { nats: options.nats, readOnly: options.readOnly });
  if (location.trim() === '') throw new StoreError(`store '${location}' is empty: give ':memory:' or a folder`);
  return new LevelStore(location, { durability: options.durability });
}
