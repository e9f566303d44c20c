// Operations of linear tasks, as kser's sequencing: an Operation builds a list of Tasks, and
// compiles to a FlowSpec in which task i's success triggers task i+1. It runs on the one
// runtime as every dialect, so its state is in the store and a recovery skips the tasks that
// succeeded, forwarding their stored results to the tasks that follow.
import { checkRuntimeOptions, FlowRuntime, mergeConfig, type RuntimeOptions } from '../actors/runtime.js';
import type { TransitionListener } from '../actors/supervisor.js';
import { resolveRunConfig } from '../model/config.js';
import { isPlainObject } from '../model/data.js';
import { ClosedError, describe, DuplicateNameError, EventorError, OptionError, ValidationError } from '../model/errors.js';
import type { TransitionRecord } from '../model/records.js';
import type { AssocSpec, EventSpec, FlowSpec, StepSpec } from '../model/spec.js';
import { RunMode } from '../model/status.js';
import { renderMermaid, type Graph } from '../observe/mermaid.js';
import type { HandlerContext, MessageHandler, OperationMessage, ResultData } from '../transport/operation-queue.js';

export * from './operation-task.js';
import { Entrypoint, entrypointOf, OperationStatus, Result, Task, TaskFailedError, thrownText, UnknownEntrypointError, THROWN_RETCODE, type EntrypointClass, type TaskOptions } from './operation-task.js';

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
