import { ClassicLevel } from 'classic-level';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { EventorError, StoreError, StoreLockedError } from '../model/errors.js';
import type { RunRecord, StoreRecord, TaskRecord } from '../model/records.js';
import { assertEncodable, decodeRecord, encode } from './codec.js';
import { keyPrefix, prefixRange, recordKey, RUN_PREFIX, runKey, type RecoveryState, type Store } from './store.js';
import { encodeFrame, readLog, WriteAheadLog, type Durability, type LogPut } from './wal.js';

type Db = ClassicLevel<string, Uint8Array>;

/** Records written and not yet taken up by LevelDB beyond which a writer is asked to wait. */
const BACKLOG_LIMIT = 20_000;

/** With durability 'sync', LevelDB's own log is synced once the write-ahead log holds this much, and then emptied. */
const SYNC_EVERY_BYTES = 1 << 20;

/** The key of the synced write that makes LevelDB durable before the write-ahead log is emptied; no scan reads it. */
const SYNC_MARK_KEY = 'meta\u0000synced';

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

/** How a LevelStore keeps what it is given. */
export interface LevelStoreOptions {
  /** 'process' (default) or 'sync': see RunConfig.durability. */
  durability?: Durability;
  /** @internal The log's size past which it is set aside for a new one; tests make it small. */
  logRotateBytes?: number;
}

/**
 * The embedded default store: one LevelDB folder per flow, records encoded with msgpackr. A
 * write is durable when it returns, in the folder's write-ahead log; LevelDB takes the log up in
 * the background, and every read first waits until it has.
 */
export class LevelStore implements Store {
  readonly durable = true;
  readonly location: string;
  readonly durability: Durability;
  private readonly logRotateBytes: number | undefined;
  /** The database from the start of `open()` to `close()`, so that close always finds what holds the lock. */
  private database: Db | undefined;
  private opening: Promise<void> | undefined;
  /** The log, from the end of a successful open() to close(); writes go to it. */
  private log: WriteAheadLog | undefined;
  /** Records in the log that LevelDB has not been handed yet. */
  private pending: LogPut[] = [];
  /** The number of the last frame LevelDB holds. */
  private appliedThrough = 0;
  /** The db.batch under way, if any; it never rejects, and a failure is kept in `failure`. */
  private applying: Promise<void> | undefined;
  /** Set while close() applies what is left: in sync mode that last batch is synced. */
  private closing = false;
  private applyScheduled = false;
  /** A background apply that failed: thrown by every later write, read and by close. */
  private failure: Error | undefined;

  constructor(folder: string, options: LevelStoreOptions = {}) {
    this.location = resolve(folder);
    this.durability = options.durability ?? 'process';
    this.logRotateBytes = options.logRotateBytes;
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
      this.forget(db);
      throw openError(error, this.location);
    }
    // close() came meanwhile: it closes the database, and the log stays as it is for the next open.
    if (this.database !== db) return;
    try {
      // LevelDB first, since it holds the folder's lock; the log's batches were acknowledged,
      // so LevelDB takes them before the log is emptied, and synced, since the log then goes.
      const replay = readLog(this.location);
      if (replay.length > 0) await db.batch(replay, { sync: true });
      if (this.database !== db) return;
      this.pending = [];
      this.appliedThrough = 0;
      this.failure = undefined;
      this.log = WriteAheadLog.open(this.location, { durability: this.durability, rotateBytes: this.logRotateBytes });
    } catch (error) {
      this.forget(db);
      await db.close().catch(() => undefined);
      throw error instanceof EventorError ? error : openError(error, this.location);
    }
  }

  /** Drops a database whose open failed, unless close() or another open() has taken over. */
  private forget(db: Db): void {
    if (this.database !== db) return;
    this.database = undefined;
    this.opening = undefined;
  }

  private get db(): Db {
    if (!this.database || this.database.status !== 'open' || !this.log) throw this.notOpen();
    return this.database;
  }

  private notOpen(): StoreError {
    return new StoreError(`store folder ${this.location} is not open: call open() first`);
  }

  /**
   * Writes one batch into the log and returns once it is there (for 'sync', on disk): a crash
   * after it loses nothing. LevelDB takes it up in the background; when it lags by more than
   * BACKLOG_LIMIT records, the answer is a promise that resolves once it has caught up, so that
   * a long run's memory does not grow with what LevelDB has still to take up.
   */
  write(records: readonly StoreRecord[]): Promise<void> | void {
    const log = this.log;
    if (!log || this.database?.status !== 'open') throw this.notOpen();
    if (this.failure) throw this.failure;
    // A task that became ready and started in the same turn is written once, as active.
    const latest = new Map<string, StoreRecord>();
    for (const record of records) latest.set(recordKey(record), record);
    const puts: LogPut[] = [];
    for (const [key, record] of latest) {
      let value: Uint8Array;
      try {
        value = encode(record);
      } catch (error) {
        throw new StoreError(`store folder ${this.location}: the record under key ${JSON.stringify(key)} cannot be encoded (${messageOf(error)}), so nothing of its batch was written`, { cause: error });
      }
      puts.push({ type: 'put', key, value });
    }
    if (puts.length === 0) return;
    log.append(encodeFrame(puts));
    for (const put of puts) this.pending.push(put);
    this.scheduleApply();
    if (this.pending.length >= BACKLOG_LIMIT) return this.caughtUp().then(() => undefined);
  }

  assertStorable(value: unknown): void {
    assertEncodable(value);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const db = await this.caughtUp();
    const key = runKey(runId);
    let bytes: Uint8Array | undefined;
    try {
      bytes = await db.get(key);
    } catch (error) {
      throw ioError(error, this.location, 'read');
    }
    return bytes === undefined ? undefined : (decodeRecord(bytes, key, this.location) as RunRecord);
  }

  async listRuns(): Promise<RunRecord[]> {
    const db = await this.caughtUp();
    return (await this.scan(db, RUN_PREFIX)) as RunRecord[];
  }

  async loadRecovery(runId: string, recovery: number): Promise<RecoveryState> {
    const db = await this.caughtUp();
    const [tasks, events, delays] = await Promise.all([
      this.scan(db, keyPrefix('task', runId, recovery)),
      this.scan(db, keyPrefix('event', runId, recovery)),
      this.scan(db, keyPrefix('delay', runId, recovery)),
    ]);
    return { tasks, events, delays } as RecoveryState;
  }

  async *eachTask(runId: string, recovery: number): AsyncIterable<TaskRecord> {
    const db = await this.caughtUp();
    try {
      for await (const [key, bytes] of db.iterator(prefixRange(keyPrefix('task', runId, recovery)))) yield decodeRecord(bytes, key, this.location) as TaskRecord;
    } catch (error) {
      throw ioError(error, this.location, 'read');
    }
  }

  async deleteRun(runId: string): Promise<void> {
    let db = this.db;
    const log = this.log as WriteAheadLog;
    // The deletes go to LevelDB alone: were the log to hold frames of the run still, a replay
    // after a crash would bring them back. So the log must be empty, not only taken up.
    while (!this.failure && !log.empty && this.startApply(db, log)) {
      await this.applying;
      db = this.db;
    }
    if (this.failure) throw this.failure;
    try {
      for (const kind of ['task', 'event', 'delay'] as const) await db.clear(prefixRange(keyPrefix(kind, runId)));
      await db.del(runKey(runId));
    } catch (error) {
      throw ioError(error, this.location, 'written');
    }
  }

  /**
   * Releases the folder once LevelDB holds what the log holds. It never leaves the lock held: an
   * open() still going is waited for and then closed, and the store forgets its database even
   * when closing fails. A failed background apply is thrown after the folder is released; the
   * log then keeps its batches for the next open.
   */
  async close(): Promise<void> {
    const db = this.database;
    const opening = this.opening;
    this.database = undefined;
    this.opening = undefined;
    if (!db) return;
    await opening?.catch(() => undefined);
    const log = this.log;
    this.log = undefined;
    let failure: unknown;
    if (log) {
      this.closing = true;
      while (!this.failure && this.startApply(db, log)) await this.applying;
      // A batch applied unsynced, and nothing left to apply: the log waits for one synced write.
      if (!this.failure && this.durability === 'sync' && log.bytes > 0) {
        this.syncedThrough(db, log, log.last);
        await this.applying;
      }
      this.closing = false;
      failure = this.failure;
      try {
        log.close();
      } catch (error) {
        failure ??= ioError(error, this.location, 'written');
      }
    }
    this.pending = [];
    this.failure = undefined;
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
    if (failure !== undefined) throw failure;
  }

  /**
   * The open database once LevelDB holds every frame written before the call (later ones need
   * not be waited for, so that a steady stream of writes cannot hold a read back).
   */
  private async caughtUp(): Promise<Db> {
    let db = this.db;
    const log = this.log as WriteAheadLog;
    const through = log.last;
    while (this.appliedThrough < through && !this.failure && this.startApply(db, log)) {
      await this.applying;
      db = this.db;
    }
    if (this.failure) throw this.failure;
    return db;
  }

  /** Hands LevelDB the pending records on the next turn, so that the batches of this one go together. */
  private scheduleApply(): void {
    if (this.applyScheduled || this.applying) return;
    this.applyScheduled = true;
    setImmediate(() => {
      this.applyScheduled = false;
      if (this.database && this.log) this.startApply(this.database, this.log);
    });
  }

  /**
   * Starts a db.batch of every pending record, unless one is under way; returns whether one is.
   * Frames appended while it goes wait for it and then go together, in the next batch.
   */
  private startApply(db: Db, log: WriteAheadLog): boolean {
    if (this.applying) return true;
    if (this.pending.length === 0 || this.failure) return false;
    const puts = this.pending;
    // Every frame that LevelDB does not hold is in `pending`: none is under way.
    const through = log.last;
    this.pending = [];
    // For 'sync', the write-ahead log is what each write waits for; LevelDB's own log is synced
    // only now and then (and at close), and the write-ahead log is emptied only behind a synced
    // batch: one fdatasync per batch, not two.
    const synced = this.durability !== 'sync' || this.closing || log.bytes >= SYNC_EVERY_BYTES;
    this.applying = db.batch(puts, { sync: this.durability === 'sync' && synced }).then(
      () => {
        this.appliedThrough = through;
        if (synced) this.logApplied(log, through);
        this.applying = undefined;
        this.startApply(db, log);
      },
      (error: unknown) => this.applyFailed(error),
    );
    return true;
  }

  /** Tells the log that LevelDB durably holds its frames through `through`, so that it may let them go. */
  private logApplied(log: WriteAheadLog, through: number): void {
    try {
      log.applied(through);
    } catch (error) {
      this.failure ??= ioError(error, this.location, 'written');
    }
  }

  /** A background write to LevelDB failed: kept, and thrown by the next write, read and close. */
  private applyFailed(error: unknown): void {
    this.failure ??= ioError(error, this.location, 'written');
    this.applying = undefined;
  }

  /** 'sync' at close: one synced write makes everything LevelDB holds durable, and the log can be emptied. */
  private syncedThrough(db: Db, log: WriteAheadLog, through: number): void {
    this.applying = db.put(SYNC_MARK_KEY, new Uint8Array(0), { sync: true }).then(
      () => {
        this.logApplied(log, through);
        this.applying = undefined;
      },
      (error: unknown) => this.applyFailed(error),
    );
  }

  private async scan(db: Db, prefix: string): Promise<StoreRecord[]> {
    const records: StoreRecord[] = [];
    try {
      for await (const [key, bytes] of db.iterator(prefixRange(prefix))) records.push(decodeRecord(bytes, key, this.location));
    } catch (error) {
      throw ioError(error, this.location, 'read');
    }
    return records;
  }
}
