import { StoreFormatError } from '../model/errors.js';
import { decode } from '../model/pack.js';
import { RECORD_VERSION, type StoreRecord } from '../model/records.js';
import { envelopeProblem, fieldsProblem } from './record-shape.js';

export { assertEncodable, decode, encode } from '../model/pack.js';

/**
 * Decodes a stored record. Bytes that do not decode, or decode to something that is not a
 * record, are a damaged record; a record whose envelope is sound but whose `v` is not ours was
 * written by another Eventor version. Both are StoreFormatError naming the store and the key.
 */
export function decodeRecord(bytes: Uint8Array, key: string, location: string, todo = 'move the store folder aside and start a new store'): StoreRecord {
  const where = `store ${location} holds a damaged record under key ${JSON.stringify(key)}`;
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
