// The tasks of kser's sequencing, and what they return: a Task's run(previous) receives the
// results so far merged into one Result, and returns its own. operation.ts runs them.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isPlainObject } from '../model/data.js';
import { EventorError, OptionError, toErrorRecord, ValidationError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { currentStep } from '../executors/step-context.js';
import { RunLogger } from '../observe/log.js';
import type { ResultData } from '../transport/operation-queue.js';
import type { Operation } from './operation.js';

export type { ResultData } from '../transport/operation-queue.js';

/** The statuses of a task and of an operation, in kser's words. */
export const OperationStatus = {
  PENDING: 'PENDING',
  RUNNING: 'RUNNING',
  SUCCESS: 'SUCCESS',
  FAILED: 'FAILED',
} as const;
export type OperationStatus = (typeof OperationStatus)[keyof typeof OperationStatus];

/** The return code of a task that threw, as kser gives it. */
export const THROWN_RETCODE = 500;

/**
 * What a task returns, and what an operation forwards from one task to the next: a return
 * code, the standard output and error, and a `retval` object. Merging keeps the highest code,
 * merges the retvals, and lets a non-empty stdout or stderr replace the earlier one.
 * @example
 * new Result({ retcode: 0, stdout: 'a' }).merge(new Result({ retcode: 2, retval: { n: 1 } }))
 * // → { retcode: 2, stdout: 'a', retval: { n: 1 } }
 */
export class Result {
  readonly uuid: string;
  readonly retcode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly retval: Record<string, unknown>;

  constructor(data: ResultData = {}) {
    if (data === null || typeof data !== 'object') throw new OptionError('data', data, 'an object, { uuid, retcode, stdout, stderr, retval }', 'new Result');
    const { uuid, retcode = 0, stdout = '', stderr = '', retval = {} } = data;
    if (uuid !== undefined && typeof uuid !== 'string') throw new OptionError('uuid', uuid, 'a string', 'new Result');
    if (!Number.isInteger(retcode)) throw new OptionError('retcode', retcode, 'a whole number (0: success)', 'new Result');
    if (typeof stdout !== 'string') throw new OptionError('stdout', stdout, 'a string', 'new Result');
    if (typeof stderr !== 'string') throw new OptionError('stderr', stderr, 'a string', 'new Result');
    if (!isPlainObject(retval)) throw new OptionError('retval', retval, 'a plain object, merged with the retvals of the other tasks', 'new Result');
    this.uuid = uuid ?? randomUUID();
    this.retcode = retcode;
    this.stdout = stdout;
    this.stderr = stderr;
    this.retval = { ...retval };
  }

  /** A Result from what a wire message or the store holds (or a Result, returned as it is). */
  static from(data: Result | ResultData | undefined): Result {
    return data instanceof Result ? data : new Result(data ?? {});
  }

  /** Whether the code is 0. */
  get ok(): boolean {
    return this.retcode === 0;
  }

  /** This result followed by `later`: the highest code, merged retvals, later non-empty output over earlier. Keeps this uuid. */
  merge(later: Result): Result {
    return new Result({
      uuid: this.uuid,
      retcode: Math.max(this.retcode, later.retcode),
      stdout: later.stdout !== '' ? later.stdout : this.stdout,
      stderr: later.stderr !== '' ? later.stderr : this.stderr,
      retval: { ...this.retval, ...later.retval },
    });
  }

  /** The result as plain data, as the store and NATS keep it. */
  toJSON(): Required<ResultData> {
    return { uuid: this.uuid, retcode: this.retcode, stdout: this.stdout, stderr: this.stderr, retval: { ...this.retval } };
  }

  toString(): string {
    return `Result<${this.uuid}>(retcode=${this.retcode}${this.stdout ? `, stdout=${JSON.stringify(this.stdout)}` : ''}${this.stderr ? `, stderr=${JSON.stringify(this.stderr)}` : ''})`;
  }
}

/** How a task (or an operation) is made; everything is optional. */
export interface TaskOptions {
  uuid?: string;
  params?: Record<string, unknown>;
  status?: OperationStatus;
  /** A result forwarded from a previous task. */
  result?: Result | ResultData;
  /** Context of the task, carried along with it. */
  metadata?: Record<string, unknown>;
}

/** A class of task or operation, as the registry keeps it. */
export type EntrypointClass = (new (options?: TaskOptions) => Task | Operation) & { entrypoint?: string; requiredFields?: readonly string[] };

/** The name a class is known by in messages: its static `entrypoint`, else its class name. */
export function entrypointOf(type: { name: string; entrypoint?: string }): string {
  return typeof type.entrypoint === 'string' && type.entrypoint !== '' ? type.entrypoint : type.name;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

let fallbackLogger: Logger | undefined;

/** Where a task logs outside a running step and outside a consumer: stderr, in the seed's layout. */
export function standaloneLogger(): Logger {
  return (fallbackLogger ??= new RunLogger('Operation', { host: hostname() }).root);
}

/** What a task and an operation share: identity, params, status, metadata, required fields and the log prefix. */
export abstract class Entrypoint {
  /** Params that `build` (or a consumer) checks are given: a missing one is a ValidationError naming it. */
  static requiredFields: readonly string[] = [];
  /** The name messages use for this class; the class name when not given. */
  static entrypoint?: string;

  uuid: string;
  params: Record<string, unknown>;
  status: OperationStatus;
  result: Result | undefined;
  metadata: Record<string, unknown>;
  /** Where `log` writes; unset, the running step's logger, else the operation's run logger, else stderr. A consumer sets its own. */
  logger: Logger | undefined;
  /** @internal The logger of the run an operation launches, for lines logged outside its steps. */
  runLogger: Logger | undefined;

  constructor(options: TaskOptions = {}, where: string) {
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { uuid, params, status, result, metadata }', where);
    const { uuid, params, status, result, metadata } = options;
    if (uuid !== undefined && (typeof uuid !== 'string' || uuid === '')) throw new OptionError('uuid', uuid, 'a non-empty string', where);
    if (params !== undefined && !isPlainObject(params)) throw new OptionError('params', params, 'a plain object of parameters', where);
    if (metadata !== undefined && !isPlainObject(metadata)) throw new OptionError('metadata', metadata, 'a plain object', where);
    if (status !== undefined && !Object.values(OperationStatus).includes(status)) throw new OptionError('status', status, `one of ${Object.values(OperationStatus).join(', ')}`, where);
    this.uuid = uuid ?? randomUUID();
    this.params = { ...params };
    this.status = status ?? OperationStatus.PENDING;
    this.result = result === undefined ? undefined : Result.from(result);
    this.metadata = { ...metadata };
  }

  /** The name messages and the registry use for this class. */
  get entrypoint(): string {
    return entrypointOf(this.constructor as typeof Entrypoint);
  }

  /** The required fields of this class. */
  get requiredFields(): readonly string[] {
    return (this.constructor as typeof Entrypoint).requiredFields ?? [];
  }

  /** Throws a ValidationError naming the first required field that `params` lacks. */
  checkRequiredFields(params: Record<string, unknown> = this.params): void {
    for (const field of this.requiredFields) {
      if (params[field] === undefined) {
        throw new ValidationError(`${this.entrypoint}[${this.uuid}] requires param '${field}', which was not given: pass it to build({ ${field}: ... }) or in the message's params`);
      }
    }
  }

  /** Logs `message` prefixed as kser does: `{TaskName}.{Status}: {entrypoint}[{uuid}]: message`. */
  log(message: string, level: Level = 'info'): void {
    const line = `${this.constructor.name}.${this.status}: ${this.entrypoint}[${this.uuid}]: ${message}`;
    let logger = this.logger;
    if (!logger) {
      try {
        logger = currentStep().logger;
      } catch {
        logger = this.runLogger ?? standaloneLogger();
      }
    }
    (LEVELS.includes(level) ? logger[level] : logger.info).call(logger, line);
  }
}

/** A text for stderr of anything a task threw. */
export function thrownText(thrown: unknown): string {
  const { name, message } = toErrorRecord(thrown);
  return `${name}: ${message}`;
}

/**
 * One task of an operation: override `run(previous)`, which receives the results of the
 * tasks before it merged into one Result, and returns this task's Result.
 * @example
 * class DiceRoll extends Task {
 *   run() { return new Result({ stdout: `You made a ${1 + Math.floor(Math.random() * 6)}` }); }
 * }
 */
export class Task extends Entrypoint {
  constructor(options: TaskOptions = {}) {
    super(options, `new ${new.target.name}`);
  }

  /** What the task does; the default does nothing and succeeds. */
  run(previous: Result): Result | ResultData | void | Promise<Result | ResultData | void> {
    void previous;
    return new Result({ uuid: this.uuid });
  }

  /**
   * Runs `run(previous)` with the statuses around it and logs its outcome; never throws: a
   * throw becomes code 500 with the error in stderr, and a non-zero code marks the task FAILED.
   */
  async execute(previous: Result = this.result ?? new Result({ uuid: this.uuid })): Promise<Result> {
    this.status = OperationStatus.RUNNING;
    let result: Result;
    try {
      const returned = await this.run(previous);
      result = returned === undefined ? new Result({ uuid: this.uuid }) : returned instanceof Result ? returned : new Result({ uuid: this.uuid, ...(returned as ResultData) });
    } catch (thrown) {
      result = new Result({ uuid: this.uuid, retcode: THROWN_RETCODE, stderr: thrownText(thrown) });
    }
    this.result = result;
    this.status = result.ok ? OperationStatus.SUCCESS : OperationStatus.FAILED;
    if (result.ok) this.log(result.stdout || 'done');
    else this.log(`${result.stderr || 'failed'} (code ${result.retcode})`, 'error');
    return result;
  }
}

/** What a task that returned a non-zero code fails its step with; the operation keeps its Result. */
export class TaskFailedError extends EventorError {
  constructor(
    readonly entrypoint: string,
    readonly uuid: string,
    readonly result: Result,
  ) {
    super(`task ${entrypoint}[${uuid}] returned code ${result.retcode}${result.stderr ? `: ${result.stderr}` : ''}`);
  }
}

/** A message names an entrypoint that no class in the registry has. */
export class UnknownEntrypointError extends ValidationError {
  /** The code a consumer answers with. */
  readonly retcode = 404;

  constructor(
    readonly entrypoint: string,
    known: readonly string[],
  ) {
    super(`no task or operation '${entrypoint}' is subscribed in this registry${known.length ? ` (it has ${known.join(', ')})` : ''}: subscribe its class with registry.subscribe(${entrypoint}) on every consumer`);
  }
}

