// What a stored record of this format version must look like, checked on every read so that a
// damaged record is refused where it is read, with its key, rather than failing somewhere in
// recovery (a status that is not one, a sequence that is a number, a run with no steps list).
import { isPlainObject } from '../model/data.js';
import type { StoreRecord } from '../model/records.js';
import { RECOVERY_STATUSES } from '../model/status.js';

const RUN_STATUSES = ['running', 'waiting', 'success', 'failure', 'stopped'];

type Check = (value: unknown) => boolean;

const string: Check = (value) => typeof value === 'string';
const number: Check = (value) => typeof value === 'number' && !Number.isNaN(value);
const count: Check = (value) => Number.isInteger(value) && (value as number) >= 0;
const boolean: Check = (value) => typeof value === 'boolean';
const oneOf = (allowed: readonly string[]): Check => (value) => typeof value === 'string' && allowed.includes(value);
const strings: Check = (value) => Array.isArray(value) && value.every(string);
const counts: Check = (value) => isPlainObject(value) && Object.values(value).every(count);
const recoveries: Check = (value) => Array.isArray(value) && value.every((item) => Number.isInteger(item) && item >= -1);
const errorRecord: Check = (value) => isPlainObject(value) && string(value.name) && string(value.message) && (value.stack === undefined || string(value.stack));

/** Each kind's fields: a check, and whether the field may be left out. */
const FIELDS: Record<StoreRecord['kind'], Record<string, [Check, 'optional'?]>> = {
  run: {
    runId: [string],
    name: [string],
    startedAt: [number],
    recovery: [count],
    status: [oneOf(RUN_STATUSES)],
    updatedAt: [number],
    fingerprint: [string],
    // Runs written before recoveries had lineages have no parents.
    parents: [recoveries, 'optional'],
    steps: [strings],
    events: [strings],
    counts: [counts],
  },
  task: {
    runId: [string],
    recovery: [count],
    at: [number],
    // XState's persisted snapshot of the task's machine.
    status: [oneOf(['active', 'done'])],
    value: [oneOf(RECOVERY_STATUSES)],
    context: [isPlainObject],
  },
  event: { runId: [string], recovery: [count], event: [string], sequence: [string], at: [number] },
  delay: { runId: [string], recovery: [count], event: [string], sequence: [string], dueAt: [number], done: [boolean] },
};

/**
 * What is wrong with the envelope of `value`, the part every format version shares: an object
 * with a kind (the one its key says, when it says one), a run id and, but for runs, a recovery.
 * Undefined when the envelope is sound, and only then may a record's `v` be taken at its word.
 */
export function envelopeProblem(value: unknown, kind?: StoreRecord['kind']): string | undefined {
  if (!isPlainObject(value)) return `it decodes to ${describe(value)}, not a record`;
  if (typeof value.kind !== 'string' || !Object.hasOwn(FIELDS, value.kind)) return `its kind is ${describe(value.kind)}, not run, task, event or delay`;
  if (kind !== undefined && value.kind !== kind) return `it is a ${value.kind} record under a ${kind} key`;
  if (!Number.isInteger(value.v) || (value.v as number) < 1) return `its format version is ${describe(value.v)}`;
  if (!string(value.runId)) return `its runId is ${describe(value.runId)}`;
  if (value.kind !== 'run' && !count(value.recovery)) return `its recovery is ${describe(value.recovery)}`;
  return undefined;
}

/** What a task machine's context must hold. */
const TASK_CONTEXT: Record<string, [Check, 'optional'?]> = {
  step: [string],
  sequence: [string],
  attempts: [count],
  dueAt: [number, 'optional'],
  deadlineAt: [number, 'optional'],
  error: [errorRecord, 'optional'],
  skippedFrom: [count, 'optional'],
  host: [string, 'optional'],
  deferred: [string, 'optional'],
};

/** What is wrong with the fields of a record whose envelope is sound and of this format version. */
export function fieldsProblem(value: Record<string, unknown>): string | undefined {
  const problem = fieldProblem(value, FIELDS[value.kind as StoreRecord['kind']], '');
  if (problem || value.kind !== 'task') return problem;
  return fieldProblem(value.context as Record<string, unknown>, TASK_CONTEXT, 'context.');
}

function fieldProblem(value: Record<string, unknown>, fields: Record<string, [Check, 'optional'?]>, prefix: string): string | undefined {
  for (const [field, [check, optional]] of Object.entries(fields)) {
    const item = value[field];
    if (item === undefined ? !optional : !check(item)) return `its ${prefix}${field} is ${describe(item)}`;
  }
  return undefined;
}

/** A short description of a decoded value for a message: never its whole content. */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return `the big integer ${value}`.slice(0, 60);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Map) return `a map of ${value.size}`;
  if (ArrayBuffer.isView(value)) return `${value.byteLength} raw bytes`;
  return typeof value === 'object' ? `a ${Object.prototype.toString.call(value).slice(8, -1)}` : `a ${typeof value}`;
}
