// Operations of linear tasks, as kser's sequencing: an Operation builds a list of Tasks, and
// compiles to a FlowSpec in which task i's success triggers task i+1. It runs on the one
// runtime as every dialect, so its state is in the store and a recovery skips the tasks that
// succeeded, forwarding their stored results to the tasks that follow.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { checkRuntimeOptions, FlowRuntime, mergeConfig, type RuntimeOptions } from '../actors/runtime.js';
import type { TransitionListener } from '../actors/supervisor.js';
import { resolveRunConfig } from '../model/config.js';
import { isPlainObject } from '../model/data.js';
import { ClosedError, describe, DuplicateNameError, EventorError, OptionError, toErrorRecord, ValidationError } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { TransitionRecord } from '../model/records.js';
import type { AssocSpec, EventSpec, FlowSpec, StepSpec } from '../model/spec.js';
import { RunMode } from '../model/status.js';
import { currentStep } from '../executors/step-context.js';
import { renderMermaid, type Graph } from '../observe/mermaid.js';
import { RunLogger } from '../observe/log.js';
import type { HandlerContext, MessageHandler, OperationMessage, ResultData } from '../transport/operation-queue.js';

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
function standaloneLogger(): Logger {
  return (fallbackLogger ??= new RunLogger('Operation', { host: hostname() }).root);
}

/** What a task and an operation share: identity, params, status, metadata, required fields and the log prefix. */
abstract class Entrypoint {
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
function thrownText(thrown: unknown): string {
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

/** How an operation is made: a task's options, with where and how its runs are kept. */
export interface OperationOptions extends TaskOptions, Omit<RuntimeOptions, 'name' | 'runId'> {
  /** Names the flow in logs and the default store folder; defaults to the entrypoint. */
  name?: string;
}

/** Sends a task to be run elsewhere (a consumer sets this) and resolves with its Result. @internal */
export type TaskDispatch = (task: Task, previous: Result) => Promise<Result>;

const START = 'start';

/** The runtime's part of an operation's options: all but the task's own and the name. */
function runtimeOptionsOf(options: OperationOptions): Omit<RuntimeOptions, 'name' | 'runId'> {
  const runtime: Record<string, unknown> = { ...options };
  for (const key of ['uuid', 'params', 'status', 'result', 'metadata', 'name']) delete runtime[key];
  return runtime as Omit<RuntimeOptions, 'name' | 'runId'>;
}

/**
 * A list of tasks run one after the other; each gets the merged results of the ones before.
 * `build(params)` checks the required fields, calls `prebuild`, `computeTasks` (which calls
 * `buildTasks`) and `finalize`; `launch()` runs it on the runtime and resolves with its Result.
 * Its state lives in the store: launched again with the same uuid (or recovered), it skips the
 * tasks that succeeded and forwards their stored results.
 * @example
 * class DiceLaunch extends Operation {
 *   buildTasks() { return [new DiceRoll(), new DiceRoll(), new DiceRoll()]; }
 * }
 * const result = await new DiceLaunch({ store: ':memory:' }).build({}).launch();
 */
export class Operation extends Entrypoint {
  /** The tasks, in the order they run. */
  tasks: Task[] = [];
  /** @internal Set by a consumer: tasks then run on whichever consumer of the queue group takes them. */
  dispatch: TaskDispatch | undefined;
  private readonly options: OperationOptions;
  private readonly listeners = new Set<TransitionListener>();
  private runtime: FlowRuntime | undefined;
  private built = false;
  private closed = false;
  /** Results of the tasks that ran in this process, by index, for the failure that ends the operation. */
  private readonly ran = new Map<number, Result>();

  constructor(options: OperationOptions = {}) {
    const where = `new ${new.target.name}`;
    super(options, where);
    const { name } = options;
    if (name !== undefined && (typeof name !== 'string' || name === '' || /[/\\]/.test(name))) throw new OptionError('name', name, 'a name without / or \\ (it names the store folder .eventor/<name>)', where);
    checkRuntimeOptions(runtimeOptionsOf(options), where);
    this.options = options;
  }

  /** Names the flow in logs and the default store folder. */
  get name(): string {
    return this.options.name ?? this.entrypoint;
  }

  /** The id of the run: the operation's uuid (a recovery from the command line takes the stored one's). */
  get runId(): string {
    return this.runtime?.runId || this.uuid;
  }

  /** To override: checks before the tasks are made; may return the params the tasks are built from. */
  prebuild(params: Record<string, unknown>): Record<string, unknown> | void {
    void params;
  }

  /** To override: the tasks of the operation, in order. */
  buildTasks(params: Record<string, unknown>): Task[] {
    void params;
    return [];
  }

  /** Builds the tasks and checks them: each is a Task, gets the operation's params under its own, and has its required fields. */
  computeTasks(params: Record<string, unknown>): Task[] {
    const tasks = this.buildTasks(params);
    if (!Array.isArray(tasks)) throw new ValidationError(`${this.entrypoint}.buildTasks() returned ${describe(tasks)}: return an array of tasks`);
    tasks.forEach((task, index) => {
      if (!(task instanceof Task)) throw new ValidationError(`${this.entrypoint}.buildTasks() returned ${describe(task)} as task ${index + 1}: return instances of Task subclasses`);
      task.params = { ...params, ...task.params };
      task.checkRequiredFields();
    });
    return tasks;
  }

  /** To override: actions after the build (mapping to a database, say); returns the operation. */
  finalize(): this {
    return this;
  }

  /** Checks the required fields, then makes the tasks: prebuild, computeTasks, finalize. Returns the operation. */
  build(params: Record<string, unknown> = {}): this {
    if (this.runtime) throw new EventorError(`${this.entrypoint}[${this.uuid}] has been launched: build an operation before launch()`);
    if (!isPlainObject(params)) throw new OptionError('params', params, 'a plain object of parameters', `${this.entrypoint}.build()`);
    this.params = { ...this.params, ...params };
    this.checkRequiredFields();
    const given = this.prebuild(this.params);
    this.tasks = [];
    for (const task of this.computeTasks(isPlainObject(given) ? given : this.params)) this.addTask(task);
    this.built = true;
    return this.finalize() ?? this;
  }

  /** Adds a task at the end. */
  addTask(task: Task): this {
    if (!(task instanceof Task)) throw new ValidationError(`${this.entrypoint}.addTask() got ${describe(task)}: give an instance of a Task subclass`);
    if (this.tasks.some((known) => known.uuid === task.uuid)) throw new DuplicateNameError('step', `${task.entrypoint}[${task.uuid}]`);
    this.tasks.push(task);
    return this;
  }

  /** The task after `task`, if any. */
  next(task: Task): Task | undefined {
    const index = this.tasks.indexOf(task);
    return index < 0 ? undefined : this.tasks[index + 1];
  }

  /** Sets the operation's status, and its result if given. */
  setStatus(status: OperationStatus, result?: Result): void {
    this.status = status;
    if (result) this.result = result;
  }

  /**
   * Called with each task as it ends (run here, elsewhere, or skipped by a recovery) and its
   * result: merges the result into the operation's and ends the operation when the task failed
   * or was the last. Returns what the next task receives. Override it to watch or adjust.
   */
  launchNext(task: Task, result: Result): Result {
    const merged = (this.result ?? new Result({ uuid: this.uuid })).merge(result);
    if (!result.ok) {
      this.setStatus(OperationStatus.FAILED, merged);
      this.log(`task ${task.entrypoint}[${task.uuid}] failed with code ${result.retcode}: the operation stops`, 'error');
    } else if (this.next(task) === undefined) {
      this.setStatus(OperationStatus.SUCCESS, merged);
      this.log(merged.stdout ? `finished: ${merged.stdout}` : 'finished');
    } else this.setStatus(OperationStatus.RUNNING, merged);
    return merged;
  }

  /** Runs the operation to its end and resolves with its merged Result; an empty operation succeeds at once. */
  async launch(): Promise<Result> {
    if (this.closed) throw new ClosedError(`${this.entrypoint}[${this.uuid}] is closed: make a new one to launch`);
    if (!this.built) this.build();
    if (this.tasks.length === 0) {
      this.setStatus(OperationStatus.SUCCESS, new Result({ uuid: this.uuid, stdout: 'nothing to do: the operation has no task' }));
      this.log('nothing to do: the operation has no task');
      return this.result as Result;
    }
    this.ran.clear();
    const spec = this.toSpec();
    let runtime: FlowRuntime;
    try {
      runtime = await this.openRuntime();
    } catch (error) {
      this.status = OperationStatus.PENDING;
      throw error;
    }
    this.runLogger = runtime.logger;
    for (const task of this.tasks) task.runLogger = runtime.logger;
    let ok = false;
    let stopped: unknown;
    try {
      await runtime.prepare(() => spec);
      // A recovery that the command line asked for takes up a stored run: its id is the operation's uuid.
      this.uuid = runtime.runId;
      this.setStatus(OperationStatus.RUNNING, new Result({ uuid: this.uuid }));
      ok = await runtime.run(() => spec, new Map(), 0, spec.triggers);
    } catch (error) {
      stopped = error;
    } finally {
      this.runtime = undefined;
      await runtime.close().catch((error: unknown) => (stopped ??= error));
    }
    if (stopped !== undefined && this.status !== OperationStatus.SUCCESS && this.status !== OperationStatus.FAILED) {
      // The flow did not validate, the store could not be opened, or the runtime broke down: thrown,
      // with whatever ran on record for a recovery.
      this.status = this.ran.size > 0 ? OperationStatus.FAILED : OperationStatus.PENDING;
      throw stopped;
    }
    if (this.status === OperationStatus.RUNNING || (!ok && this.status === OperationStatus.SUCCESS)) {
      // Cancelled, or stopped before its last task: the run is on record for a recovery.
      const merged = (this.result ?? new Result({ uuid: this.uuid })).merge(new Result({ retcode: THROWN_RETCODE, stderr: `the operation stopped before its tasks finished: launch it again with uuid ${this.uuid} to recover it` }));
      this.setStatus(OperationStatus.FAILED, merged);
    }
    return this.result as Result;
  }

  /** Runs the operation as `eventor run` does; resolves true when it succeeded. */
  async run(options: { maxLoops?: number } = {}): Promise<boolean> {
    void options;
    const result = await this.launch();
    return result.ok && this.status === OperationStatus.SUCCESS;
  }

  /** Stops a launch that is going; the run stays on record for a recovery. */
  async cancel(reason = 'cancelled by the user'): Promise<void> {
    await this.runtime?.cancel(reason);
  }

  /** Ends a launch still going and releases its store; the operation cannot launch again. */
  async close(): Promise<void> {
    this.closed = true;
    await this.runtime?.close();
  }

  /** Calls `listener` on every task transition of the operation's runs (task steps are named `1.DiceRoll`, `2.DiceRoll`, ...). */
  subscribe(listener: TransitionListener): () => void {
    if (typeof listener !== 'function') throw new ValidationError(`subscribe() got ${describe(listener)}: give it a function, called with each task transition`);
    this.listeners.add(listener);
    const detach = this.runtime?.subscribe(listener);
    return () => {
      this.listeners.delete(listener);
      detach?.();
    };
  }

  /** The name of the step of task `index`: its position from 1 and its entrypoint. */
  stepName(index: number): string {
    return `${index + 1}.${this.tasks[index].entrypoint}`;
  }

  /** The operation as a FlowSpec: a chain of steps, each triggered by the success of the one before. */
  toSpec(): FlowSpec {
    if (!this.built) this.build();
    const events: EventSpec[] = [{ name: START }];
    const steps: StepSpec[] = [];
    const assocs: AssocSpec[] = [];
    this.tasks.forEach((_, index) => {
      const name = this.stepName(index);
      const last = index === this.tasks.length - 1;
      const done = `${name}:success`;
      if (!last) events.push({ name: done });
      steps.push({ name, func: () => this.runStep(index), args: [], triggers: last ? {} : { success: [done] }, recovery: {}, config: {} });
      assocs.push({ event: index === 0 ? START : `${this.stepName(index - 1)}:success`, delay: 0, targets: [{ kind: 'step', name }] });
    });
    return { name: this.name, events, steps, assocs, triggers: [{ event: START, sequence: '1' }], pools: [], config: resolveRunConfig(this.options.config) };
  }

  /** The chain of tasks as a graph, as `eventor graph` draws it: each task, and the success that leads to the next. */
  toGraph(): Graph {
    const spec = this.toSpec();
    const graph: Graph = { nodes: spec.steps.map((step) => ({ id: step.name, label: step.name, shape: 'step' as const })), edges: [], groups: [] };
    for (let index = 1; index < spec.steps.length; index++) graph.edges.push({ from: spec.steps[index - 1].name, to: spec.steps[index].name, label: 'success' });
    return graph;
  }

  toMermaid(): string {
    return renderMermaid(this.toGraph());
  }

  /** The code of task `index`'s step: runs the task (here, or through a consumer) with the results so far. */
  private async runStep(index: number): Promise<Required<ResultData>> {
    const task = this.tasks[index];
    const previous = this.result ?? new Result({ uuid: this.uuid });
    let result: Result;
    if (this.dispatch) {
      task.status = OperationStatus.RUNNING;
      try {
        result = await this.dispatch(task, previous);
      } catch (thrown) {
        result = new Result({ uuid: task.uuid, retcode: THROWN_RETCODE, stderr: thrownText(thrown) });
      }
      task.result = result;
      task.status = result.ok ? OperationStatus.SUCCESS : OperationStatus.FAILED;
    } else result = await task.execute(previous);
    this.ran.set(index, result);
    if (!result.ok) throw new TaskFailedError(task.entrypoint, task.uuid, result);
    // What the store keeps of the task, and what a recovery forwards when it skips it.
    return result.toJSON();
  }

  /** Every end of a task, run or skipped, goes through launchNext: the next task's input is ready before it starts. */
  private onTransition(transition: TransitionRecord): void {
    if (transition.status !== 'success' && transition.status !== 'failure') return;
    const index = this.tasks.findIndex((_, at) => this.stepName(at) === transition.step);
    if (index < 0) return;
    const task = this.tasks[index];
    let result = this.ran.get(index);
    if (transition.status === 'success' && result === undefined) {
      // Skipped by a recovery: the stored result is forwarded as if the task had just run.
      result = Result.from(transition.result as ResultData);
      task.uuid = result.uuid;
      task.result = result;
      task.status = OperationStatus.SUCCESS;
      task.log(`skipped: it succeeded before, its result is forwarded${result.stdout ? ` (${result.stdout})` : ''}`);
    }
    // A failure with no result of ours: the step timed out or was stopped before the task answered.
    result ??= new Result({ uuid: task.uuid, retcode: THROWN_RETCODE, stderr: transition.error ? `${transition.error.name}: ${transition.error.message}` : 'the task failed' });
    if (transition.status === 'failure') task.status = OperationStatus.FAILED;
    this.launchNext(task, result);
  }

  /**
   * The runtime of a launch. An operation whose uuid the store already holds is recovered
   * rather than started again, so that launching it again (or a consumer receiving its message
   * again) skips what succeeded.
   */
  private async openRuntime(): Promise<FlowRuntime> {
    const options = runtimeOptionsOf(this.options);
    const uuid = this.options.uuid;
    const make = (runMode: RunMode | undefined, runId: string | undefined) => {
      const runtime = new FlowRuntime({ ...options, name: this.name, runMode, runId });
      runtime.subscribe((transition) => this.onTransition(transition));
      for (const listener of this.listeners) runtime.subscribe(listener);
      return runtime;
    };
    // The mode is the options' unless the command line sets it (`eventor recover`), which only the runtime knows.
    let runtime = make(this.options.runMode, this.uuid);
    if (runtime.mode !== RunMode.restart && uuid === undefined) {
      // A recover or continue of no uuid in particular: the store's latest run (or the command line's --run-id).
      await runtime.close();
      runtime = make(this.options.runMode, undefined);
    } else if (runtime.mode === RunMode.restart && runtime.store.durable && this.options.runMode === undefined) {
      let known: boolean;
      try {
        known = (await runtime.listRuns()).some((run) => run.runId === this.uuid);
      } catch (error) {
        await runtime.close().catch(() => undefined);
        throw error;
      }
      if (known) {
        await runtime.close();
        runtime = make(RunMode.recover, this.uuid);
      }
    }
    this.runtime = runtime;
    return runtime;
  }
}

/** Whether a class is a Task or Operation class (or a subclass). */
function isEntrypointClass(value: unknown): value is EntrypointClass {
  return typeof value === 'function' && (value.prototype instanceof Task || value.prototype instanceof Operation || value === Task || value === Operation);
}

/** What the operations a registry runs for a consumer are given: the store of each, and runtime options. */
export interface RegistryOptions {
  /** Runtime options of every operation it launches (config, logSink); the store comes from the consumer. */
  operation?: Omit<OperationOptions, keyof TaskOptions | 'store' | 'runMode'>;
}

/**
 * Maps entrypoint names to Task and Operation classes, and runs what a Consumer hands it: a
 * task with the result forwarded to it, or an operation whose tasks go back to the queue group.
 * @example
 * const registry = new OperationRegistry();
 * registry.subscribe(DiceRoll);
 * registry.subscribe(DiceLaunch);
 */
export class OperationRegistry implements MessageHandler {
  private readonly classes = new Map<string, EntrypointClass>();

  constructor(private readonly options: RegistryOptions = {}) {}

  /** Registers a Task or Operation class under its entrypoint; returns the class. */
  subscribe<T extends EntrypointClass>(type: T): T {
    if (!isEntrypointClass(type)) throw new ValidationError(`OperationRegistry.subscribe() got ${describe(type)}: give a class that extends Task or Operation`);
    const name = entrypointOf(type);
    const known = this.classes.get(name);
    if (known && known !== type) throw new ValidationError(`entrypoint '${name}' is subscribed already, by another class: give one of them another static entrypoint`);
    this.classes.set(name, type);
    return type;
  }

  /** The class of an entrypoint, if subscribed. */
  get(entrypoint: string): EntrypointClass | undefined {
    return this.classes.get(entrypoint);
  }

  /** The entrypoints subscribed, in order. */
  entrypoints(): string[] {
    return [...this.classes.keys()];
  }

  has(entrypoint: string): boolean {
    return this.classes.has(entrypoint);
  }

  /**
   * Runs a message: a task gets the message's result as its previous one; an operation is
   * built from the params and launched with the consumer's store, its tasks dispatched to the
   * queue group. Throws UnknownEntrypointError for a name it does not have, and a
   * ValidationError for missing required fields.
   */
  async handle(message: OperationMessage, context: HandlerContext): Promise<Required<ResultData>> {
    const type = this.classes.get(message.entrypoint);
    if (!type) throw new UnknownEntrypointError(message.entrypoint, this.entrypoints());
    const given: TaskOptions = { uuid: message.uuid, params: message.params ?? {}, metadata: message.metadata, result: message.result };
    if (type.prototype instanceof Operation || type === Operation) {
      const runtime = context.runtimeFor(message);
      const operation = new (type as unknown as new (options: OperationOptions) => Operation)({ ...this.options.operation, ...runtime, config: mergeConfig(this.options.operation?.config, runtime.config), ...given, result: undefined });
      operation.logger = context.logger;
      operation.build(message.params ?? {});
      for (const task of operation.tasks) task.logger = context.logger;
      operation.dispatch = async (task, previous) =>
        Result.from(await context.dispatch({ uuid: task.uuid, entrypoint: task.entrypoint, params: task.params, metadata: task.metadata, result: previous.toJSON() }));
      try {
        return (await operation.launch()).toJSON();
      } finally {
        await operation.close();
      }
    }
    const task = new (type as unknown as new (options: TaskOptions) => Task)(given);
    task.logger = context.logger;
    task.checkRequiredFields();
    return (await task.execute(Result.from(message.result ?? { uuid: task.uuid }))).toJSON();
  }
}
