import { Packr } from 'msgpackr';
import { findInParts } from '../model/data.js';
import { StoreFormatError, UnstorableResultError } from '../model/errors.js';
import { RECORD_VERSION, type StoreRecord } from '../model/records.js';
import { envelopeProblem, fieldsProblem } from './record-shape.js';

// Objects go as msgpackr records whose structure travels with each value (no shared structures
// to keep), so a store stays readable by a process that never saw what wrote it; msgpack maps
// are then free to mean Map, so a step's Map result comes back a Map.
const packr = new Packr({ mapsAsObjects: false, moreTypes: true });

/** Encodes a record or any value for a store or a message. */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes what `encode` made. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/**
 * Decodes a stored record. Bytes that do not decode, or decode to something that is not a
 * record, are a damaged record; a record whose envelope is sound but whose `v` is not ours was
 * written by another Eventor version. Both are StoreFormatError naming the store and the key.
 */
export function decodeRecord(bytes: Uint8Array, key: string, location: string): StoreRecord {
  const where = `store ${location} holds a damaged record under key ${JSON.stringify(key)}`;
  const todo = 'move the store folder aside and start a new store';
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    throw new StoreFormatError(`${where} (its ${bytes.length} bytes do not decode: ${(error as Error)?.message ?? String(error)}): ${todo}`, { cause: error });
  }
  const envelope = envelopeProblem(value, kindOfKey(key));
  if (envelope) throw new StoreFormatError(`${where} (${envelope}): ${todo}`);
  const record = value as Record<string, unknown>;
  if (record.v !== RECORD_VERSION) {
    throw new StoreFormatError(`store ${location} holds a record of format version ${String(record.v)} (key ${JSON.stringify(key)}), and this Eventor reads version ${RECORD_VERSION}: use the Eventor version that wrote it, or start a new store`);
  }
  const fields = fieldsProblem(record);
  if (fields) throw new StoreFormatError(`${where} (${fields}): ${todo}`);
  return value as StoreRecord;
}

/** The kind of record a key holds, by its first part. */
function kindOfKey(key: string): StoreRecord['kind'] | undefined {
  const kind = key.slice(0, key.indexOf('\u0000'));
  return kind === 'run' || kind === 'task' || kind === 'event' || kind === 'delay' ? kind : undefined;
}

/**
 * Throws UnstorableResultError when `value` cannot be stored as it is: a function or symbol
 * (msgpackr would drop or refuse them), a cycle, or anything msgpackr fails to encode (nesting
 * deeper than its recursion reaches, a getter that throws).
 */
export function assertEncodable(value: unknown): void {
  let found: string | undefined;
  try {
    found = findUnencodable(value);
  } catch (error) {
    throw new UnstorableResultError(`the result cannot be stored: reading it threw ${(error as Error)?.message ?? String(error)}; return plain data`, { cause: error });
  }
  if (found) throw new UnstorableResultError(`${found} cannot be stored: return plain data (objects, arrays, strings, numbers, dates, maps, sets, buffers)`);
  try {
    encode(value);
  } catch (error) {
    const why = error instanceof RangeError ? 'it is nested too deeply' : ((error as Error)?.message ?? String(error));
    throw new UnstorableResultError(`the result cannot be stored: msgpackr cannot encode it (${why}); return flatter plain data`, { cause: error });
  }
}

/**
 * The first thing in `value` that cannot be stored, described for a message, or undefined. It
 * walks with a stack of its own rather than by recursion, so that no depth of nesting makes the
 * walk itself fail.
 */
function findUnencodable(value: unknown): string | undefined {
  const own = describeLeaf(value, 'the result');
  if (own !== undefined || !isWalkable(value)) return own;
  return findInParts(value, 'the result', childrenOf, ({ value: child, label: path, cycle }) => {
    const found = describeLeaf(child, path);
    if (found !== undefined) return found;
    if (!isWalkable(child)) return undefined;
    return cycle ? `${path} refers to itself, which` : 'descend';
  });
}

function describeLeaf(value: unknown, path: string): string | undefined {
  if (typeof value === 'function') return `${path} is a function, which`;
  if (typeof value === 'symbol') return `${path} is a symbol, which`;
  return undefined;
}

/** Whether the walk looks inside `value`: objects, except those msgpackr encodes whole. */
function isWalkable(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer) && !(value instanceof Date) && !(value instanceof RegExp) && !(value instanceof Error);
}

function* childrenOf(value: object, path: string): Generator<[unknown, string]> {
  if (value instanceof Map) {
    for (const [key, item] of value) {
      yield [key, `${path} (a map key)`];
      yield [item, `${path}.get(${typeof key === 'symbol' ? key.toString() : String(key)})`];
    }
  } else if (value instanceof Set || Array.isArray(value)) {
    let index = 0;
    for (const item of value) yield [item, `${path}[${index++}]`];
  } else {
    for (const [key, item] of Object.entries(value)) yield [item, `${path}.${key}`];
  }
}
