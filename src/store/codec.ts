import { Packr } from 'msgpackr';
import { StoreFormatError } from '../model/errors.js';
import { RECORD_VERSION, type StoreRecord } from '../model/records.js';

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

/** Decodes a stored record, refusing one of a format version this Eventor does not read. */
export function decodeRecord(bytes: Uint8Array, key: string, location: string): StoreRecord {
  const record = decode(bytes) as StoreRecord;
  if (record?.v !== RECORD_VERSION) {
    throw new StoreFormatError(`store ${location} holds a record of format version ${String(record?.v)} (key ${JSON.stringify(key)}), and this Eventor reads version ${RECORD_VERSION}: use the Eventor version that wrote it, or start a new store`);
  }
  return record;
}

/** Throws a TypeError naming what cannot be encoded. */
export function assertEncodable(value: unknown): void {
  const found = findUnencodable(value, new Set());
  if (found) throw new TypeError(`${found} cannot be stored: return plain data (objects, arrays, strings, numbers, dates, maps, sets, buffers)`);
}

function findUnencodable(value: unknown, seen: Set<object>, path = 'the result'): string | undefined {
  if (typeof value === 'function') return `${path} is a function, which`;
  if (typeof value === 'symbol') return `${path} is a symbol, which`;
  if (typeof value !== 'object' || value === null) return undefined;
  if (seen.has(value)) return `${path} refers to itself, which`;
  seen.add(value);
  try {
    if (value instanceof Map) {
      for (const [key, item] of value) {
        const found = findUnencodable(key, seen, `${path} (a map key)`) ?? findUnencodable(item, seen, `${path}.get(${String(key)})`);
        if (found) return found;
      }
    } else if (value instanceof Set || Array.isArray(value)) {
      let index = 0;
      for (const item of value) {
        const found = findUnencodable(item, seen, `${path}[${index++}]`);
        if (found) return found;
      }
    } else if (!ArrayBuffer.isView(value) && !(value instanceof Date) && !(value instanceof RegExp) && !(value instanceof Error)) {
      for (const [key, item] of Object.entries(value)) {
        const found = findUnencodable(item, seen, `${path}.${key}`);
        if (found) return found;
      }
    }
  } finally {
    seen.delete(value);
  }
  return undefined;
}
