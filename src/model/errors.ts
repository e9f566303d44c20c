/** Plain-data form of an error, safe to store, log and send between hosts. */
export interface ErrorRecord {
  name: string;
  message: string;
  stack?: string;
}

/** Root of every error Eventor throws; `instanceof EventorError` catches them all. */
export class EventorError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    // Keeps `instanceof` working when the package is compiled to an older target or loaded twice.
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A flow that cannot run as written; thrown before anything runs. */
export class ValidationError extends EventorError {}

/** Two events, or two steps, of one flow share a name. */
export class DuplicateNameError extends ValidationError {
  constructor(
    readonly kind: 'event' | 'step' | 'resource pool',
    readonly itemName: string,
  ) {
    super(`duplicate ${kind} name '${itemName}': every ${kind} of a flow needs its own name; rename one of them`);
  }
}

/** A reference to an event or step that the flow does not have. */
export class UnknownNameError extends ValidationError {
  constructor(
    readonly kind: 'event' | 'step' | 'step or event' | 'resource pool',
    readonly itemName: string,
    where: string,
  ) {
    const add = { event: 'addEvent', step: 'addStep', 'step or event': 'addStep or addEvent', 'resource pool': 'new ResourcePool' }[kind];
    super(`${where} names ${kind} '${itemName}', which this flow does not have: add it with ${add}('${itemName}') or fix the name`);
  }
}

/** A reference to an event or step that belongs to another Eventor. */
export class ForeignReferenceError extends ValidationError {
  constructor(
    readonly kind: 'event' | 'step',
    readonly itemName: string,
    where: string,
  ) {
    super(`${where} names ${kind} '${itemName}' of another Eventor: use the ${kind} that this Eventor's add${kind === 'event' ? 'Event' : 'Step'} returned`);
  }
}

/** An event whose expression reaches the event itself, so it could never fire. */
export class ExpressionCycleError extends ValidationError {
  constructor(readonly path: string[]) {
    super(`event '${path[0]}' has an expression cycle (${path.join(' -> ')}): an event cannot wait on itself; remove one of these references`);
  }
}

/** An event expression with nothing in it (`[]`, `or()`). */
export class EmptyExpressionError extends ValidationError {
  constructor(readonly eventName: string) {
    super(`event '${eventName}' has an empty expression: give it at least one event, or leave expr out for an event you trigger yourself`);
  }
}

/** A delay that is negative or not a number. */
export class InvalidDelayError extends ValidationError {
  constructor(
    readonly eventName: string,
    readonly delay: unknown,
  ) {
    super(`association of event '${eventName}' has delay ${String(delay)}: a delay is a number of seconds, 0 or more`);
  }
}

/** A step given none, or more than one, of `func`, `module` + `export` and `command`. */
export class StepCodeError extends ValidationError {
  constructor(
    readonly stepName: string,
    problem: 'missing' | 'conflicting' | 'incomplete' | 'unimportable',
    detail?: string,
  ) {
    const what = {
      missing: `has no code: ${detail ?? 'give it func, module + export, or command'}`,
      conflicting: 'has more than one kind of code: give it exactly one of func, module + export, or command',
      incomplete: 'has module without export (or export without module): give both',
      unimportable: detail ?? 'has code that cannot be imported',
    }[problem];
    super(`step '${stepName}' ${what}`);
  }
}

/** A trigger or recovery map keyed by a status that does not exist. */
export class UnknownStatusError extends ValidationError {
  constructor(
    readonly stepName: string,
    readonly status: string,
    allowed: readonly string[],
    where: 'triggers' | 'recovery',
  ) {
    super(`step '${stepName}' has ${where} under status '${status}', which does not exist: use one of ${allowed.join(', ')}`);
  }
}

/** A configuration value of the wrong type or out of range. */
export class ConfigError extends ValidationError {
  constructor(
    readonly key: string,
    readonly value: unknown,
    expected: string,
    owner?: string,
  ) {
    super(`${owner ? `step '${owner}' ` : ''}config ${key} is ${typeof value === 'string' ? JSON.stringify(value) : describe(value)}: expected ${expected}`);
  }
}

/** An option of the API (not a setting of `config`) of the wrong type: `addStep`'s `args`, `new Eventor`'s `store`. */
export class OptionError extends ConfigError {
  constructor(
    key: string,
    value: unknown,
    expected: string,
    readonly where: string,
  ) {
    super(key, value, expected);
    const shown = typeof value === 'string' ? JSON.stringify(value) : describe(value);
    this.message = key === 'options' ? `${where} got options ${shown}: expected ${expected}` : `${where} option ${key} is ${shown}: expected ${expected}`;
  }
}

/** A step failed for exceeding its timeout. */
export class StepTimeoutError extends EventorError {}

/** What a task that ran past its `config.timeout` failed with. */
export function timeoutMessage(step: string, sequence: string, timeoutMs: number): string {
  return `step '${step}' (sequence ${sequence}) timed out after ${timeoutMs / 1000} s: give it a longer config.timeout, or make it faster`;
}

/** The reason a step's signal aborts when its run is cancelled. */
export class CancelledError extends EventorError {}

/** Something was asked of an Eventor that has been closed. */
export class ClosedError extends EventorError {}

/**
 * Turns anything thrown into plain data, keeping name, message and stack of real errors. It
 * never throws: a thrown value may be a hostile Proxy or have getters that throw, and the
 * failure of one step must not become the failure of the run.
 */
export function toErrorRecord(thrown: unknown): ErrorRecord {
  // Duck-typed rather than `instanceof Error`, so that errors made in another realm (node:vm,
  // a worker) keep their name, message and stack.
  const name = safely(() => (isErrorLike(thrown) ? (thrown as { name: unknown }).name : undefined));
  const message = safely(() => (isErrorLike(thrown) ? (thrown as { message: unknown }).message : undefined));
  if (typeof name === 'string' && typeof message === 'string') {
    const record: ErrorRecord = { name, message };
    const stack = safely(() => (thrown as { stack?: unknown }).stack);
    if (typeof stack === 'string' && stack) record.stack = stack;
    return record;
  }
  return { name: 'NonErrorThrown', message: `a value that is not an Error was thrown: ${describe(thrown)}` };
}

/** What `read` returns, or undefined when reading throws. */
function safely(read: () => unknown): unknown {
  try {
    return read();
  } catch {
    return undefined;
  }
}

function isErrorLike(value: unknown): boolean {
  if (safely(() => value instanceof Error) === true) return true;
  return typeof value === 'object' && value !== null && typeof (value as Error).message === 'string' && typeof (value as Error).name === 'string';
}

/** A text form of any value, even one whose own conversions throw. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  for (const attempt of [() => JSON.stringify(value), () => String(value), () => Object.prototype.toString.call(value)]) {
    const text = safely(attempt);
    if (typeof text === 'string') return text;
  }
  return typeof value;
}

/** A recovery or continue that cannot be done: no earlier run, a store that keeps nothing, a changed flow. */
export class RecoveryError extends EventorError {}

/** Recover or continue was asked of a store that keeps nothing between processes. */
export class VolatileStoreError extends RecoveryError {}

/** Recover or continue found no run in the store to take up. */
export class NoRunToRecoverError extends RecoveryError {}

/** Recover or continue named a run id (or recovery) that the store does not have. */
export class RunNotFoundError extends RecoveryError {}

/** The flow being recovered is not the flow that made the run: steps or events were added or removed. */
export class FlowChangedError extends RecoveryError {
  constructor(
    readonly runId: string,
    readonly added: string[],
    readonly removed: string[],
  ) {
    const parts = [added.length ? `added ${added.join(', ')}` : '', removed.length ? `removed ${removed.join(', ')}` : ''].filter(Boolean);
    const what = parts.length ? parts.join('; ') : 'its associations, triggers or expressions changed';
    super(`run ${runId} was made by a different flow (${what}): recover it with the flow that made it, or start a new run with RunMode.restart`);
  }
}

/** A store that cannot be used: unknown kind, damaged, or written by an unknown format. */
export class StoreError extends EventorError {}

/** A store folder that another run (in this process or another) holds open. */
export class StoreLockedError extends StoreError {
  constructor(
    readonly location: string,
    options?: { cause?: unknown; message?: string },
  ) {
    super(options?.message ?? `store folder ${location} is held by another run (an open Eventor in this or another process): wait for it to finish or close it, or give this flow another store`, options);
  }
}

/** A stored record of a format version this Eventor does not read. */
export class StoreFormatError extends StoreError {}

/** A task's result that the store cannot keep (a function, a cycle, nesting too deep to encode). */
export class UnstorableResultError extends EventorError {}

/** A run() that can never end: steps still active await promises that nothing is left to settle. */
export class RunStalledError extends EventorError {}

/** Something between hosts went wrong: NATS, an agent, a message. */
export class TransportError extends EventorError {}

/** NATS could not be reached, or refused the credentials; nothing ran. */
export class NatsConnectionError extends TransportError {}

/** Hosts a flow needs never said hello within the wait; no task started. */
export class AgentTimeoutError extends TransportError {
  constructor(
    readonly hosts: string[],
    waitedSeconds: number,
  ) {
    super(`no agent said hello within ${waitedSeconds} s for ${hosts.join(', ')}: start them (eventor agent --nats URL --host NAME --root DIR), check they reach the same NATS and prefix, or raise config.nats.agentTimeout`);
  }
}

/** The agent running a task stopped heartbeating: the task failed, and a recovery runs it again. */
export class AgentLostError extends TransportError {}

/** A step's module path leads outside the agent's root, through `..` or a symbolic link. */
export class RootEscapeError extends TransportError {}

/** A running flow refused an external trigger, or no running flow listens for its run id. */
export class TriggerRefusedError extends TransportError {}
