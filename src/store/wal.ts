// The write-ahead log of a LevelDB store folder. A batch is durable once its frame is in the
// log's file, written with one synchronous write; LevelDB takes the batches up in the
// background, and a file goes once LevelDB holds every frame it has.
//
// A frame is the payload's byte length (uint32 LE), the CRC32 of the payload (uint32 LE), then
// the payload: msgpackr of the batch's [key, value] pairs, each value a record as LevelDB keeps it.
import fs from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
import type { RunConfig } from '../model/config.js';
import { StoreError, StoreFormatError } from '../model/errors.js';
import { decode, encode } from './codec.js';

/** How safe an acknowledged batch is: see RunConfig.durability. */
export type Durability = RunConfig['durability'];

/** One record of a batch, as LevelDB's batch takes it. */
export interface LogPut {
  type: 'put';
  key: string;
  value: Uint8Array;
}

/** The log file, inside the store folder. */
export const LOG_FILE = 'eventor.wal';
/** The log set aside when it grew past its limit, until LevelDB holds all of it; always older than LOG_FILE. */
export const RETIRED_LOG_FILE = 'eventor.wal.old';

const HEADER_BYTES = 8;
/**
 * Past this size the log is set aside and a new one begun, so that a store written without a
 * pause (when no moment comes at which LevelDB holds every frame) keeps two bounded files
 * rather than one that grows for the whole run.
 */
const ROTATE_BYTES = 4 * 1024 * 1024;

/** zlib.crc32 is in Node from 20.15; the table is for earlier 20.x. */
const crc32: (data: Uint8Array) => number = typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : tableCrc32;

let crcTable: Uint32Array | undefined;

/** The standard CRC-32 (IEEE 802.3, as zlib computes it). */
export function tableCrc32(data: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The frame of a batch: length, checksum and payload, ready for one write. */
export function encodeFrame(puts: readonly LogPut[]): Buffer {
  const payload = encode(puts.map(({ key, value }) => [key, value]));
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/**
 * The batches of one log file's bytes, in order. A bad frame at the end (cut short, or its
 * checksum wrong) is what a crash in the middle of its write leaves, a batch never acknowledged:
 * it is left out. A bad frame with more than zeros after it is damage: StoreFormatError.
 */
export function decodeFrames(bytes: Uint8Array, file: string): LogPut[][] {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batches: LogPut[][] = [];
  let offset = 0;
  while (offset < view.length) {
    if (view.length - offset < HEADER_BYTES) break;
    const length = view.readUInt32LE(offset);
    const end = offset + HEADER_BYTES + length;
    if (end > view.length) break;
    const payload = view.subarray(offset + HEADER_BYTES, end);
    if (length === 0 || crc32(payload) !== view.readUInt32LE(offset + 4)) {
      // A power loss may leave the file longer than what reached the disk, filled with zeros.
      if (end === view.length || isZeros(view.subarray(offset))) break;
      throw damaged(file, `the frame at byte ${offset} ${length === 0 ? 'is empty' : 'fails its checksum'}, and ${view.length - end} bytes follow it`);
    }
    batches.push(putsOf(payload, file, offset));
    offset = end;
  }
  return batches;
}

function putsOf(payload: Uint8Array, file: string, offset: number): LogPut[] {
  let pairs: unknown;
  try {
    pairs = decode(payload);
  } catch (error) {
    throw damaged(file, `the frame at byte ${offset} passes its checksum but does not decode (${(error as Error)?.message ?? String(error)})`);
  }
  const isPair = (pair: unknown) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && pair[1] instanceof Uint8Array;
  if (!Array.isArray(pairs) || !pairs.every(isPair)) throw damaged(file, `the frame at byte ${offset} passes its checksum but is not a batch of records`);
  return (pairs as [string, Uint8Array][]).map(([key, value]) => ({ type: 'put', key, value }));
}

function damaged(file: string, what: string): StoreFormatError {
  return new StoreFormatError(`the store's write-ahead log ${file} is damaged (${what}): move the store folder aside and start a new store; nothing in it was changed`);
}

function isZeros(bytes: Uint8Array): boolean {
  return bytes.every((byte) => byte === 0);
}

/** The batches the folder's log files hold, oldest first, for open() to hand to LevelDB; changes nothing. */
export function readLog(folder: string): LogPut[] {
  const puts: LogPut[] = [];
  for (const name of [RETIRED_LOG_FILE, LOG_FILE]) {
    const file = join(folder, name);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new StoreError(`store folder ${folder} cannot be opened: its write-ahead log ${file} cannot be read (${(error as Error).message}): check the folder's permissions`, { cause: error });
    }
    for (const batch of decodeFrames(bytes, file)) for (const put of batch) puts.push(put);
  }
  return puts;
}

/** Makes a file's creation, renaming or removal in `folder` durable: fsync of a file does not. */
function syncFolder(folder: string): void {
  const fd = fs.openSync(folder, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The open log of a store folder: appends one frame per batch and numbers the frames, and drops
 * its files once told that LevelDB holds every frame they have.
 */
export class WriteAheadLog {
  readonly file: string;
  private readonly retiredFile: string;
  private fd: number;
  /** Bytes in the current file: the log writes at its end, and a failed write is cut back to it. */
  private size = 0;
  /** Frames appended since open; the number of the last one. */
  private appended = 0;
  /** The number of the last frame in the current file. */
  private currentThrough = 0;
  /** The number of the last frame in the retired file, while there is one. */
  private retiredThrough: number | undefined;
  /** Set when a failed write could not be cut back: a later frame would follow a torn one. */
  private broken: StoreError | undefined;

  private constructor(
    private readonly folder: string,
    private readonly durability: Durability,
    private readonly rotateBytes: number,
  ) {
    this.file = join(folder, LOG_FILE);
    this.retiredFile = join(folder, RETIRED_LOG_FILE);
    const existed = fs.existsSync(this.file);
    // Append mode: every write lands at the file's end, and after ftruncate(0) that is byte 0.
    this.fd = fs.openSync(this.file, 'a');
    try {
      fs.ftruncateSync(this.fd, 0);
      const retired = fs.existsSync(this.retiredFile);
      if (retired) fs.unlinkSync(this.retiredFile);
      if (!existed || retired) syncFolder(folder);
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
  }

  /**
   * Opens the folder's log empty, dropping what it held: call it only once LevelDB holds what
   * `readLog` returned.
   */
  static open(folder: string, options: { durability: Durability; rotateBytes?: number }): WriteAheadLog {
    try {
      return new WriteAheadLog(folder, options.durability, options.rotateBytes ?? ROTATE_BYTES);
    } catch (error) {
      throw new StoreError(`store folder ${folder} cannot be opened: its write-ahead log ${join(folder, LOG_FILE)} cannot be made ready (${(error as Error)?.message ?? String(error)}): check that the folder is writable and its disk not full`, { cause: error });
    }
  }

  /** Whether the log holds no frame, so that nothing in it can be replayed over LevelDB. */
  get empty(): boolean {
    return this.size === 0 && this.retiredThrough === undefined;
  }

  /** The number of the last frame appended. */
  /** Bytes in the current log file. */
  get bytes(): number {
    return this.size;
  }

  get last(): number {
    return this.appended;
  }

  /**
   * Appends a batch's frame with one synchronous write (and, for 'sync', an fdatasync) and
   * returns its number. When it throws, nothing of the batch is in the log.
   */
  append(frame: Uint8Array): number {
    if (this.broken) throw this.broken;
    let written = 0;
    try {
      if (this.size >= this.rotateBytes && this.retiredThrough === undefined) this.rotate();
      while (written < frame.length) written += fs.writeSync(this.fd, frame, written);
      if (this.durability === 'sync') fs.fdatasyncSync(this.fd);
    } catch (error) {
      this.cutBack(error);
      throw new StoreError(`store folder ${this.folder} cannot be written: its write-ahead log ${this.file} refused a batch (${(error as Error)?.message ?? String(error)}): the disk may be full or the folder read-only; make room or make it writable, then recover the run. The batch was not written`, { cause: error });
    }
    // A removed log (the folder deleted under the store) still takes writes, into a file that no
    // open will read: the batch would be acknowledged and lost. The check costs about 2 µs here.
    if (fs.fstatSync(this.fd).nlink === 0) {
      const removed = Object.assign(new Error(`ENOENT: ${this.file} has no link left on disk (fstat nlink 0)`), { code: 'ENOENT', path: this.file });
      throw new StoreError(`store folder ${this.folder} cannot be written: its write-ahead log ${this.file} was removed (was the folder deleted?), so the batch is on no disk: the run cannot be kept on record`, { cause: removed });
    }
    this.size += frame.length;
    this.currentThrough = ++this.appended;
    return this.appended;
  }

  /** Told that LevelDB holds every frame up to `through`: drops each file that holds no later frame. */
  applied(through: number): void {
    if (this.retiredThrough !== undefined && this.retiredThrough <= through) {
      fs.unlinkSync(this.retiredFile);
      this.retiredThrough = undefined;
      // Were the removal lost to a power loss, its old frames would be replayed over newer ones.
      if (this.durability === 'sync') syncFolder(this.folder);
    }
    if (this.size > 0 && this.currentThrough <= through) {
      fs.ftruncateSync(this.fd, 0);
      this.size = 0;
    }
  }

  /** Releases the file; what it still holds is replayed by the next open. */
  close(): void {
    fs.closeSync(this.fd);
  }

  private cutBack(error: unknown): void {
    try {
      fs.ftruncateSync(this.fd, this.size);
    } catch {
      this.broken = new StoreError(`store folder ${this.folder} cannot be written: a batch failed (${(error as Error)?.message ?? String(error)}) and its part-written frame could not be removed from ${this.file}: close the store and open it again`, { cause: error });
    }
  }

  /** Sets the current file aside under RETIRED_LOG_FILE and begins a new one; on any failure the log goes on in the file it has. */
  private rotate(): void {
    try {
      fs.renameSync(this.file, this.retiredFile);
    } catch {
      return;
    }
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'a');
    } catch {
      // The old file, now under the retired name, is still the one written; with no file
      // under LOG_FILE, replay reads it alone and in order, and no later rotation renames it.
      return;
    }
    fs.closeSync(this.fd);
    this.fd = fd;
    this.retiredThrough = this.currentThrough;
    this.size = 0;
    syncFolder(this.folder);
  }
}
