import { ClassicLevel } from 'classic-level';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { EventorError, StoreError, StoreLockedError } from '../model/errors.js';
import type { RunRecord, StoreRecord } from '../model/records.js';
import { assertEncodable, decodeRecord, encode } from './codec.js';
import { keyPrefix, prefixRange, recordKey, RUN_PREFIX, runKey, type RecoveryState, type Store } from './store.js';

type Db = ClassicLevel<string, Uint8Array>;

/** The code and the cause's code and message of a classic-level error, whatever shape it has. */
function levelCodes(error: unknown): { code?: string; cause?: { code?: string; message?: string } } {
  return (typeof error === 'object' && error !== null ? error : {}) as { code?: string; cause?: { code?: string; message?: string } };
}

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

/** Turns classic-level's open failures into errors that name the folder and say what to do. */
function openError(error: unknown, location: string): Error {
  const { code, cause } = levelCodes(error);
  if (code === 'LEVEL_DATABASE_NOT_OPEN' && cause?.code === 'LEVEL_LOCKED') return new StoreLockedError(location, { cause: error });
  if (cause?.code === 'LEVEL_CORRUPTION' || /corrupt/i.test(cause?.message ?? '')) {
    return new StoreError(`store folder ${location} is damaged (${cause?.message}): move it aside and start a new run, or try ClassicLevel.repair on a copy`, { cause: error });
  }
  return new StoreError(`store folder ${location} cannot be opened: ${cause?.message ?? messageOf(error)}`, { cause: error });
}

/** Turns a failure of a read or a write on an open folder into a StoreError naming the folder. */
function ioError(error: unknown, location: string, doing: 'read' | 'written'): Error {
  if (error instanceof EventorError) return error;
  const { code, cause } = levelCodes(error);
  const detail = cause?.message ? `${messageOf(error)}: ${cause.message}` : messageOf(error);
  if (code === 'LEVEL_CORRUPTION' || cause?.code === 'LEVEL_CORRUPTION' || /corrupt/i.test(detail)) {
    return new StoreError(`store folder ${location} is damaged and cannot be ${doing} (${detail}): move it aside and start a new store, or try ClassicLevel.repair on a copy`, { cause: error });
  }
  const hint = doing === 'written' ? 'the folder may have been removed or its disk be full or read-only; the run cannot be kept on record' : 'the folder may have been removed or closed meanwhile';
  return new StoreError(`store folder ${location} cannot be ${doing} (${detail}): ${hint}`, { cause: error });
}

/** The embedded default store: one LevelDB folder per flow, records encoded with msgpackr. */
export class LevelStore implements Store {
  readonly durable = true;
  readonly location: string;
  /** The database from the start of `open()` to `close()`, so that close always finds what holds the lock. */
  private database: Db | undefined;
  private opening: Promise<void> | undefined;

  constructor(folder: string) {
    this.location = resolve(folder);
  }

  /** Opens the folder; only now, since classic-level takes the folder's lock as soon as it exists. */
  open(): Promise<void> {
    // A second open() while the first is going shares it, rather than racing it for the lock.
    this.opening ??= this.openDatabase();
    return this.opening;
  }

  private async openDatabase(): Promise<void> {
    const db = new ClassicLevel<string, Uint8Array>(this.location, { keyEncoding: 'utf8', valueEncoding: 'view' });
    this.database = db;
    try {
      mkdirSync(this.location, { recursive: true });
      await db.open({ createIfMissing: true });
    } catch (error) {
      // A failed open holds nothing; a later open() may try again.
      if (this.database === db) {
        this.database = undefined;
        this.opening = undefined;
      }
      throw openError(error, this.location);
    }
  }

  private get db(): Db {
    if (!this.database || this.database.status !== 'open') throw new StoreError(`store folder ${this.location} is not open: call open() first`);
    return this.database;
  }

  async write(records: readonly StoreRecord[]): Promise<void> {
    const db = this.db;
    // A task that became ready and started in the same turn is written once, as active.
    const latest = new Map<string, StoreRecord>();
    for (const record of records) latest.set(recordKey(record), record);
    const operations = [];
    for (const [key, record] of latest) {
      let value: Uint8Array;
      try {
        value = encode(record);
      } catch (error) {
        throw new StoreError(`store folder ${this.location}: the record under key ${JSON.stringify(key)} cannot be encoded (${messageOf(error)}), so nothing of its batch was written`, { cause: error });
      }
      operations.push({ type: 'put' as const, key, value });
    }
    try {
      await db.batch(operations);
    } catch (error) {
      throw ioError(error, this.location, 'written');
    }
  }

  assertStorable(value: unknown): void {
    assertEncodable(value);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const key = runKey(runId);
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.db.get(key);
    } catch (error) {
      throw ioError(error, this.location, 'read');
    }
    return bytes === undefined ? undefined : (decodeRecord(bytes, key, this.location) as RunRecord);
  }

  async listRuns(): Promise<RunRecord[]> {
    return (await this.scan(RUN_PREFIX)) as RunRecord[];
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
    try {
      for (const kind of ['task', 'event', 'delay'] as const) await this.db.clear(prefixRange(keyPrefix(kind, runId)));
      await this.db.del(runKey(runId));
    } catch (error) {
      throw ioError(error, this.location, 'written');
    }
  }

  /**
   * Releases the folder. It never leaves the lock held: an open() still going is waited for and
   * then closed, and the store forgets its database even when closing fails.
   */
  async close(): Promise<void> {
    const db = this.database;
    const opening = this.opening;
    this.database = undefined;
    this.opening = undefined;
    if (!db) return;
    await opening?.catch(() => undefined);
    try {
      await db.close();
    } catch (error) {
      // abstract-level leaves a database open when one of its iterators would not close; the
      // second close finds those iterators closed or gone, and releases the lock.
      try {
        await db.close();
      } catch {
        throw new StoreError(`store folder ${this.location} could not be closed (${messageOf(error)}): end this process to release it`, { cause: error });
      }
    }
  }

  private async scan(prefix: string): Promise<StoreRecord[]> {
    const records: StoreRecord[] = [];
    try {
      for await (const [key, bytes] of this.db.iterator(prefixRange(prefix))) records.push(decodeRecord(bytes, key, this.location));
    } catch (error) {
      throw ioError(error, this.location, 'read');
    }
    return records;
  }
}
