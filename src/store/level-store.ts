import { ClassicLevel } from 'classic-level';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { StoreError, StoreLockedError } from '../model/errors.js';
import type { RunRecord, StoreRecord } from '../model/records.js';
import { assertEncodable, decodeRecord, encode } from './codec.js';
import { keyPrefix, recordKey, type RecoveryState, type Store } from './store.js';

type Db = ClassicLevel<string, Uint8Array>;

/** The largest character, closing a key range: every key of a prefix sorts below prefix + this. */
const END = '\uffff';

/** Turns classic-level's open failures into errors that name the folder and say what to do. */
function openError(error: unknown, location: string): Error {
  const { code, cause } = (error ?? {}) as { code?: string; cause?: { code?: string; message?: string } };
  if (code === 'LEVEL_DATABASE_NOT_OPEN' && cause?.code === 'LEVEL_LOCKED') return new StoreLockedError(location, { cause: error });
  if (cause?.code === 'LEVEL_CORRUPTION' || /corrupt/i.test(cause?.message ?? '')) {
    return new StoreError(`store folder ${location} is damaged (${cause?.message}): move it aside and start a new run, or try ClassicLevel.repair on a copy`, { cause: error });
  }
  return new StoreError(`store folder ${location} cannot be opened: ${cause?.message ?? (error as Error)?.message ?? String(error)}`, { cause: error });
}

/** The embedded default store: one LevelDB folder per flow, records encoded with msgpackr. */
export class LevelStore implements Store {
  readonly durable = true;
  readonly location: string;
  private opened: Db | undefined;

  constructor(folder: string) {
    this.location = resolve(folder);
  }

  /** Opens the folder; only now, since classic-level takes the folder's lock as soon as it exists. */
  async open(): Promise<void> {
    if (this.opened) return;
    const db = new ClassicLevel<string, Uint8Array>(this.location, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      mkdirSync(this.location, { recursive: true });
      await db.open({ createIfMissing: true });
    } catch (error) {
      throw openError(error, this.location);
    }
    this.opened = db;
  }

  private get db(): Db {
    if (!this.opened) throw new StoreError(`store folder ${this.location} is not open: call open() first`);
    return this.opened;
  }

  write(records: readonly StoreRecord[]): Promise<void> {
    // A task that became ready and started in the same turn is written once, as active.
    const latest = new Map<string, StoreRecord>();
    for (const record of records) latest.set(recordKey(record), record);
    const operations = [];
    for (const [key, record] of latest) operations.push({ type: 'put' as const, key, value: encode(record) });
    return this.db.batch(operations);
  }

  assertStorable(value: unknown): void {
    assertEncodable(value);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const key = `run\u0000${runId}`;
    const bytes = await this.db.get(key);
    return bytes === undefined ? undefined : (decodeRecord(bytes, key, this.location) as RunRecord);
  }

  async listRuns(): Promise<RunRecord[]> {
    return (await this.scan('run\u0000')) as RunRecord[];
  }

  async loadRecovery(runId: string, recovery: number): Promise<RecoveryState> {
    const [tasks, events, delays] = await Promise.all([
      this.scan(keyPrefix('task', runId, recovery)),
      this.scan(keyPrefix('event', runId, recovery)),
      this.scan(keyPrefix('delay', runId, recovery)),
    ]);
    return { tasks, events, delays } as RecoveryState;
  }

  async deleteRun(runId: string): Promise<void> {
    for (const kind of ['task', 'event', 'delay'] as const) {
      const prefix = keyPrefix(kind, runId);
      await this.db.clear({ gte: prefix, lt: prefix + END });
    }
    await this.db.del(`run\u0000${runId}`);
  }

  async close(): Promise<void> {
    const db = this.opened;
    this.opened = undefined;
    await db?.close();
  }

  private async scan(prefix: string): Promise<StoreRecord[]> {
    const records: StoreRecord[] = [];
    for await (const [key, bytes] of this.db.iterator({ gte: prefix, lt: prefix + END })) records.push(decodeRecord(bytes, key, this.location));
    return records;
  }
}
