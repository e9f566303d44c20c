import { join } from 'node:path';
import { StoreError } from '../model/errors.js';
import { LevelStore, type LevelStoreOptions } from './level-store.js';
import { MemoryStore } from './memory-store.js';
import type { Store } from './store.js';

/** The folder a flow keeps its runs in when no store is given: `.eventor/<name>` here. */
export function defaultStoreFolder(name: string): string {
  return join(process.cwd(), '.eventor', name);
}

/** The store a location names: ':memory:', or a LevelDB folder (kept with `options.durability`, 'process' by default). */
export function createStore(location: string, options: Pick<LevelStoreOptions, 'durability'> = {}): Store {
  if (location === ':memory:') return new MemoryStore();
  if (/^nats:\/\//.test(location)) throw new StoreError(`store ${location}: NATS stores are not in this version of Eventor yet; use a LevelDB folder or ':memory:'`);
  if (location.trim() === '') throw new StoreError(`store '${location}' is empty: give ':memory:' or a folder`);
  return new LevelStore(location, { durability: options.durability });
}
