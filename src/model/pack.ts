import { Packr } from 'msgpackr';
import { findInParts } from './data.js';
import { UnstorableResultError } from './errors.js';

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
