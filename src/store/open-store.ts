import { join } from 'node:path';
import { StoreError } from '../model/errors.js';
import { LevelStore } from './level-store.js';
import { MemoryStore } from './memory-store.js';
import type { Store } from './store.js';

/** The folder a flow keeps its runs in when no store is given: `.eventor/<name>` here. */
export function defaultStoreFolder(name: string): string {
  return join(process.cwd(), '.eventor', name);
}

/** The store a location names: ':memory:', or a LevelDB folder. */
export function createStore(location: string): Store {
  if (location === ':memory:') return new MemoryStore();
  if (/^nats:\/\//.test(location)) throw new StoreError(`store ${location}: NATS stores are not in this version of Eventor yet; use a LevelDB folder or ':memory:'`);
  if (location.trim() === '') throw new StoreError(`store '${location}' is empty: give ':memory:' or a folder`);
  return new LevelStore(location);
}
