import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import { CommandExecutor } from '../executors/command.js';
import { InlineExecutor } from '../executors/inline.js';
import { ProcessExecutor } from '../executors/process.js';
import { moduleUrl } from '../executors/modules.js';
import { ResourcePool } from '../actors/resource-pool.js';
import { WorkerExecutor } from '../executors/worker.js';
import type { Executor } from '../executors/executor.js';
import { planFlow, type FlowPlan } from '../actors/flow-plan.js';
import { Supervisor, taskKey, type Todos, type TransitionListener } from '../actors/supervisor.js';
import { currentStep } from '../executors/step-context.js';
import { resolveRunConfig, type RunConfig, type RunConfigInput, type StepConfig } from '../model/config.js';
import {
  ClosedError,
  ConfigError,
  describe,
  OptionError,
  DuplicateNameError,
  EventorError,
  FlowChangedError,
  ForeignReferenceError,
  NoRunToRecoverError,
  RecoveryError,
  RunNotFoundError,
  StepCodeError,
  UnknownNameError,
  ValidationError,
  VolatileStoreError,
} from '../model/errors.js';
import { fingerprintFlow } from '../model/fingerprint.js';
import { RECORD_VERSION, type RunRecord, type RunStatus, type TaskCounts, type TaskRecord } from '../model/records.js';
import { normalizeExpr, type EventRef, type ExprInput, type StepRef } from '../model/expr.js';
import type { AssocSpec, FlowSpec, Sequence, StepFunction, StepSpec, TargetSpec, TriggerSpec } from '../model/spec.js';
import { RunMode, type StepReplay, type StepStatus, type TaskStatus, type TriggerStatus } from '../model/status.js';
import { validateFlow } from '../model/validate.js';
import { RunLogger, type LineSink, type Logger } from '../observe/log.js';
import { flowGraph, renderMermaid } from '../observe/mermaid.js';
import { createStore, defaultStoreFolder } from '../store/open-store.js';
import { latestRun, type RecoveryState, type Store } from '../store/store.js';

/** How an Eventor is made. */
export interface EventorOptions {
  /** Names the flow in logs and the default store folder; defaults to the flow module's base name. */
  name?: string;
  /** A LevelDB folder (default `.eventor/<name>`), or ':memory:' to keep the run in this process only. */
  store?: string;
  runMode?: RunMode;
  runId?: string;
  recoveryRun?: number;
  config?: RunConfigInput;
  /** Where console log lines go instead of stderr (tests, embedding). */
  logSink?: LineSink;
}

/** What a step runs and what its statuses trigger. */
export interface AddStepOptions {
  func?: StepFunction;
  /** A module path (relative to the current directory) or package, with the name of its function `export`. */
  module?: string;
  export?: string;
  /** A program and its arguments (no shell), or a line for `/bin/sh -c`. */
  command?: string | string[];
  /** Working directory of a command step. */
  cwd?: string;
  /** Replace `${sequence}`, `${step}` and `${env.NAME}` in the command for each task. */
  placeholders?: boolean;
  /** Environment variables of a command, process or worker step. */
  env?: Record<string, string>;
  args?: unknown[];
  /** Passed to the code as its last argument. */
  kwargs?: Record<string, unknown>;
  triggers?: Partial<Record<TriggerStatus, readonly (EventRef | string)[]>>;
  /** For dialects: events a status fires that, unlike triggers, never count as handling a failure. */
  reports?: Partial<Record<TriggerStatus, string[]>>;
  recovery?: Partial<Record<TaskStatus, StepReplay>>;
  config?: StepConfig;
  /** Resources to hold while a task runs; it waits in `acquiring` until they are free. */
  acquires?: [ResourcePool, number][];
  /** Resources to give back when a task ends; defaults to `acquires`, `[]` gives back none. */
  releases?: [ResourcePool, number][];
}

/** Options of `addAssoc`, given as its last argument. */
export interface AssocOptions {
  /** Seconds to wait, after the event fires, before triggering the targets. */
  delay?: number;
}

/** Options of `run()`. */
export interface RunOptions {
  /** Stop after this many loops (a loop runs until nothing is ready or active); 0 or less: no limit. */
  maxLoops?: number;
}

type Target = EventRef | StepRef | string;

/** A run as `listRuns()` shows it. */
export interface RunSummary {
  runId: string;
  name: string;
  startedAt: Date;
  /** How many recoveries followed the first run. */
  recoveries: number;
  status: RunStatus;
  /** Tasks by status, as of the latest recovery's last record. */
  tasks: TaskCounts;
}

/** The run a supervisor takes up: its record, and what recover replays or continue restores. */
interface TakenRun {
  run: RunRecord;
  replay?: ReadonlyMap<string, TaskRecord>;
  restore?: RecoveryState;
}

/**
 * Imports a step's module before anything runs, so that a missing module or export is a
 * validation error naming the step, not a failure halfway through a run.
 */
async function checkModule(step: StepSpec): Promise<void> {
  const url = moduleUrl(step.module as string);
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new StepCodeError(step.name, 'unimportable', `module ${step.module} cannot be imported (${(error as Error).message}): check the path (relative to ${process.cwd()}) and that it builds`);
  }
  if (typeof module[step.export as string] !== 'function') {
    throw new StepCodeError(step.name, 'unimportable', `module ${step.module} has no function export '${step.export}'${Object.keys(module).length ? ` (it exports ${Object.keys(module).join(', ')})` : ''}`);
  }
}

let flowNameOverride: string | undefined;

/** Names flows that give no name, as the CLI does with the flow file's base name. @internal */
export function setDefaultFlowName(name: string | undefined): void {
  flowNameOverride = name;
}

/** A flow's name when none is given: the flow module's base name, else 'eventor'. */
function defaultFlowName(): string {
  if (flowNameOverride) return flowNameOverride;
  const main = process.argv[1];
  return main ? basename(main).replace(/\.[cm]?[jt]sx?$/, '') || 'eventor' : 'eventor';
}

/** A new run id: sortable by time, unique enough to share a store. */
function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('Z', '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Makes the folder of the run's JSON log file, refusing a logdir that cannot be one before the store is touched. */
function makeLogFolder(logdir: string): void {
  try {
    mkdirSync(resolve(logdir), { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'it, or a folder above it, is a file' : `it cannot be made (${code ?? (error as Error).message})`;
    throw new ConfigError('logdir', logdir, `a folder for the run's JSON log files, and ${why}: give another logdir, or logging: { file: false }`);
  }
}

/** Refuses a name that is not a non-empty string, before it could reach a store key or a log line. */
function assertName(name: unknown, where: string, kind: string): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new ValidationError(`${where} got ${describe(name)} as the ${kind}'s name: a name is a non-empty string`);
  if (name.includes('\u0000')) throw new ValidationError(`${where} got ${JSON.stringify(name)} as the ${kind}'s name: a name cannot hold the character \\u0000, which the store keeps as a separator`);
}

/** Refuses options of the wrong type with the option's name, rather than letting them fail later as a TypeError. */
function checkOptionTypes(options: EventorOptions): void {
  const { name, store, config } = options;
  if (name !== undefined) {
    assertName(name, 'new Eventor', 'flow');
    // The name makes the default store folder and the log file names: it must stay one path part.
    if (/[/\\]/.test(name) || name === '.' || name === '..') throw new OptionError('name', name, 'a flow name without / or \\ that is not . or .. (it names the store folder .eventor/<name>)', 'new Eventor');
  }
  if (store !== undefined && typeof store !== 'string') throw new OptionError('store', store, "':memory:' or the path of a LevelDB folder", 'new Eventor');
  if (config !== undefined && (config === null || typeof config !== 'object')) throw new OptionError('config', config, 'an object of settings, { maxConcurrent, logging, ... }', 'new Eventor');
  if (config?.logging !== undefined && (config.logging === null || typeof config.logging !== 'object')) throw new ConfigError('logging', config.logging, 'an object, { level, console, file }');
  if (options.logSink !== undefined && typeof options.logSink !== 'function') throw new OptionError('logSink', options.logSink, 'a function that takes each console line', 'new Eventor');
}

const isPlainObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Checks the shape of addStep's options; what they mean is checked with the whole flow before it runs. */
function checkStepOptions(name: string, options: AddStepOptions): void {
  const fail = (key: string, expected: string) => {
    throw new OptionError(key, (options as Record<string, unknown>)[key], expected, `step '${name}'`);
  };
  if (options.args !== undefined && !Array.isArray(options.args)) fail('args', 'an array of arguments');
  if (options.kwargs !== undefined && !isPlainObject(options.kwargs)) fail('kwargs', 'an object, passed as the last argument');
  if (options.config !== undefined && !isPlainObject(options.config)) fail('config', 'an object of step settings, { timeout, retries, ... }');
  if (options.recovery !== undefined && !isPlainObject(options.recovery)) fail('recovery', "an object from status to replay, { failure: 'rerun', success: 'skip' }");
  if (options.cwd !== undefined && typeof options.cwd !== 'string') fail('cwd', 'the path of a folder');
  if (options.env !== undefined && (!isPlainObject(options.env) || Object.values(options.env).some((value) => typeof value !== 'string'))) fail('env', 'an object of names to string values');
  for (const key of ['acquires', 'releases'] as const) if (options[key] !== undefined && !Array.isArray(options[key])) fail(key, '[pool, amount] pairs, [[pool, 1]]');
  if (options.triggers !== undefined) {
    if (!isPlainObject(options.triggers)) fail('triggers', 'an object from status to the events it fires, { success: [done] }');
    for (const [status, events] of Object.entries(options.triggers)) {
      if (events !== undefined && !Array.isArray(events)) throw new OptionError(`triggers.${status}`, events, 'an array of events', `step '${name}'`);
    }
  }
}

function isAssocOptions(value: unknown): value is AssocOptions {
  return typeof value === 'object' && value !== null && !('kind' in value);
}

/**
 * A flow of events and steps: add them, associate them, trigger the first events, run.
 * @example
 * const ev = new Eventor({ name: 'demo', store: ':memory:' });
 * const start = ev.addEvent('start');
 * ev.addAssoc(start, ev.addStep('hello', { func: () => 'hi' }));
 * ev.triggerEvent(start, 1);
 * const ok = await ev.run();
 */
export class Eventor {
  readonly name: string;
  private readonly options: EventorOptions;
  private readonly mode: RunMode;
  private readonly config: RunConfig;
  private readonly store: Store;
  private readonly logger: Logger;
  private readonly runLogger: RunLogger;
  private readonly eventRefs = new Map<string, EventRef>();
  private readonly events: { name: string; expr?: ExprInput }[] = [];
  private readonly steps: (Omit<StepSpec, 'triggers'> & { triggerInput: AddStepOptions['triggers'] })[] = [];
  private readonly assocs: { event: EventRef | string; targets: Target[]; delay: number }[] = [];
  private readonly pendingTriggers: TriggerSpec[] = [];
  private readonly listeners = new Set<TransitionListener>();
  private readonly stepNames = new Set<string>();
  private readonly pools = new Map<string, ResourcePool>();
  private supervisor: Supervisor | undefined;
  private openExecutors: Executor[] = [];
  private preparing: Promise<Supervisor> | undefined;
  private storeOpened = false;
  private resolvedRunId: string;
  private nextSequence = 1;
  private closed = false;

  constructor(options: EventorOptions = {}) {
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { name, store, config, ... }', 'new Eventor');
    checkOptionTypes(options);
    this.options = options;
    this.name = options.name ?? defaultFlowName();
    this.mode = options.runMode ?? RunMode.restart;
    if (!Object.values(RunMode).includes(this.mode)) throw new ValidationError(`runMode '${String(this.mode)}' does not exist: use one of ${Object.values(RunMode).join(', ')}`);
    if (options.recoveryRun !== undefined && (!Number.isInteger(options.recoveryRun) || options.recoveryRun < 0)) {
      throw new ValidationError(`recoveryRun ${String(options.recoveryRun)} is not a recovery number: use 0 for the first run, 1 for the first recovery, ...`);
    }
    this.config = resolveRunConfig(options.config);
    this.runLogger = new RunLogger(`Run-${this.name}`, { ...this.config.logging, host: hostname(), sink: options.logSink });
    this.logger = this.runLogger.root;
    this.store = createStore(options.store ?? defaultStoreFolder(this.name));
    if (this.mode !== RunMode.restart && !this.store.durable) {
      throw new VolatileStoreError(`runMode '${this.mode}' needs a store that keeps runs, and '${this.store.location}' keeps nothing: give store a LevelDB folder (or leave it out for .eventor/${this.name})`);
    }
    // Recover and continue learn the run id from the store, unless it is given.
    this.resolvedRunId = options.runId ?? (this.mode === RunMode.restart ? newRunId() : '');
  }

  /** The id of the run: given, made for a new run, or (recover and continue) found in the store by `run()`. */
  get runId(): string {
    return this.resolvedRunId;
  }

  /** Adds an event; with `expr`, it fires by itself once its expression holds for a sequence. */
  addEvent(name: string, options: { expr?: ExprInput } = {}): EventRef {
    this.assertBuilding();
    assertName(name, 'addEvent', 'event');
    if (options === null || typeof options !== 'object') throw new ValidationError(`addEvent('${name}') got options ${describe(options)}: give an object, { expr } or {}`);
    if (this.eventRefs.has(name)) throw new DuplicateNameError('event', name);
    const ref: EventRef = { kind: 'event', name, owner: this };
    this.eventRefs.set(name, ref);
    this.events.push({ name, expr: options.expr });
    return ref;
  }

  /** Adds a step: its code, and the events its statuses trigger. */
  addStep(name: string, options: AddStepOptions): StepRef {
    this.assertBuilding();
    assertName(name, 'addStep', 'step');
    if (options === null || typeof options !== 'object') {
      throw new StepCodeError(name, 'missing', `got options ${describe(options)}: give addStep('${name}', { func }) (or { module, export }, or { command })`);
    }
    if (this.stepNames.has(name)) throw new DuplicateNameError('step', name);
    checkStepOptions(name, options);
    this.stepNames.add(name);
    const { triggers, args, recovery, config, acquires, releases, ...code } = options;
    const poolNames = (claims: [ResourcePool, number][] | undefined, key: string) =>
      claims?.map(([pool, amount]): [string, number] => {
        if (!(pool instanceof ResourcePool)) throw new ValidationError(`step '${name}' ${key} ${String(pool)} where a ResourcePool is needed: make one with new ResourcePool(name, { limit })`);
        const known = this.pools.get(pool.name);
        if (known && known !== pool) throw new DuplicateNameError('resource pool', pool.name);
        this.pools.set(pool.name, pool);
        return [pool.name, amount];
      });
    this.steps.push({
      name,
      ...code,
      args: args ?? [],
      recovery: recovery ?? {},
      config: config ?? {},
      triggerInput: triggers ?? {},
      acquires: poolNames(acquires, 'acquires'),
      releases: poolNames(releases, 'releases'),
    });
    return { kind: 'step', name, owner: this };
  }

  /** When `event` fires, triggers each target (a step gets a task, an event fires) with the same sequence. */
  addAssoc(event: EventRef | string, ...targets: (Target | AssocOptions)[]): void {
    this.assertBuilding();
    const last = targets.at(-1);
    const options = isAssocOptions(last) ? (targets.pop() as AssocOptions) : {};
    const source = typeof event === 'string' ? event : this.nameOf(event, 'event', 'addAssoc');
    if (targets.length === 0) throw new ValidationError(`addAssoc('${source}') has no target: give the steps or events it triggers`);
    targets.forEach((target, index) => {
      const ok = (typeof target === 'string' && target !== '') || (typeof target === 'object' && target !== null && 'kind' in target);
      if (!ok) throw new ValidationError(`addAssoc('${source}') got ${describe(target)} as target ${index + 1}: give a step or an event (what addStep or addEvent returned, or its name)`);
    });
    this.assocs.push({ event, targets: targets as Target[], delay: options.delay ?? 0 });
  }

  /**
   * Fires `event` for `sequence` (kept as a string; omitted, the next integer). Before `run()`
   * it waits for the run; during a run, even from inside a step, its work joins the run.
   */
  triggerEvent(event: EventRef | string, sequence?: number | string): Sequence {
    if (this.closed) throw new ClosedError(`Eventor '${this.name}' is closed: make a new one to trigger events`);
    const name = this.nameOf(event, 'event', 'triggerEvent');
    const seq = this.sequenceOf(sequence);
    if (this.supervisor) this.supervisor.trigger(name, seq);
    else this.pendingTriggers.push({ event: name, sequence: seq });
    return seq;
  }

  /** Runs the flow; resolves true unless a failure went unhandled or the run was stopped. */
  async run(options: RunOptions = {}): Promise<boolean> {
    if (this.closed) throw new ClosedError(`Eventor '${this.name}' is closed: make a new one to run again`);
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { maxLoops } or {}', 'run()');
    if (options.maxLoops !== undefined && !Number.isInteger(options.maxLoops)) throw new OptionError('maxLoops', options.maxLoops, 'a whole number of loops (0 or less: no limit)', 'run()');
    const supervisor = await this.prepare();
    return supervisor.run(options.maxLoops ?? 0, this.pendingTriggers.splice(0));
  }

  /**
   * Work not finished yet: tasks waiting on a delay, ready or active, and delayed events. In
   * continue mode it reads the stored run, so it can be asked before `run()`.
   */
  async countTodos(): Promise<Todos> {
    if (!this.supervisor && this.mode === RunMode.continue && !this.closed) await this.prepare();
    return this.supervisor?.countTodos() ?? { total: 0, byStep: {} };
  }

  /** The runs in this flow's store, oldest first. */
  async listRuns(): Promise<RunSummary[]> {
    await this.openStore();
    const runs = await this.store.listRuns();
    return runs
      .sort((a, b) => a.startedAt - b.startedAt)
      .map((run) => ({ runId: run.runId, name: run.name, startedAt: new Date(run.startedAt), recoveries: run.recovery, status: run.status, tasks: run.counts }));
  }

  /** Deletes the runs started more than `olderThanDays` days ago, but never the current one; returns their ids. */
  async deleteRuns(options: { olderThanDays: number }): Promise<string[]> {
    const olderThanDays = (options as { olderThanDays?: unknown } | undefined)?.olderThanDays;
    if (typeof olderThanDays !== 'number' || !(olderThanDays >= 0)) throw new OptionError('olderThanDays', olderThanDays, 'a number of days, 0 or more', 'deleteRuns()');
    await this.openStore();
    const cutoff = Date.now() - olderThanDays * 86_400_000;
    const runs = await this.store.listRuns();
    // Never the run this Eventor runs or is about to take up.
    const kept = this.resolvedRunId || (this.mode === RunMode.restart ? '' : (this.options.runId ?? latestRun(runs)?.runId ?? ''));
    const deleted: string[] = [];
    for (const run of runs) {
      if (run.startedAt >= cutoff || run.runId === kept) continue;
      await this.store.deleteRun(run.runId);
      deleted.push(run.runId);
    }
    return deleted;
  }

  /**
   * From inside a running step: resolves with the first of `events` to fire for `sequence` in
   * this run, or with undefined once nothing left could make one fire; rejects if the run stops.
   * The step gives its concurrency slot back while it waits.
   */
  waitForEvent(events: EventRef | string | readonly (EventRef | string)[], sequence: number | string): Promise<string | undefined> {
    const names = (Array.isArray(events) ? events : [events]).map((event: EventRef | string) => this.nameOf(event, 'event', 'waitForEvent'));
    if (!this.supervisor) return Promise.reject(new EventorError(`waitForEvent('${names.join("', '")}') was called before run(): call it from a running step`));
    let step: { step: string; sequence: string } | undefined;
    try {
      const { name, sequence: own } = currentStep();
      step = { step: name, sequence: own };
    } catch {
      step = undefined;
    }
    return this.supervisor.waitForEvent(names, String(sequence), step);
  }

  /** The status of a task of this run (a step for a sequence), if it has one yet. */
  statusOf(step: StepRef | string, sequence: number | string): TaskStatus | undefined {
    return this.supervisor?.statusOf(this.nameOf(step, 'step', 'statusOf'), String(sequence));
  }

  /**
   * Stops a run that is going: no new task starts, running steps see `currentStep().signal`
   * abort and may finish; `run()` then resolves false. Resolves when the run has ended.
   */
  async cancel(reason = 'cancelled by the user'): Promise<void> {
    await this.supervisor?.cancel(reason);
  }

  /** Calls `listener` on every task transition; returns the function that stops it. */
  subscribe(listener: TransitionListener): () => void {
    if (typeof listener !== 'function') throw new ValidationError(`subscribe() got ${describe(listener)}: give it a function, called with each task transition`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Ends a run still going, then releases the store and every actor; the Eventor cannot run again. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.preparing?.catch(() => undefined);
    // Each part is released even if one before it fails, so that the store's lock never outlives close().
    const parts = [
      () => this.supervisor?.close(this.config.closeGrace * 1000),
      () => Promise.all(this.openExecutors.map((executor) => executor.close())),
      () => (this.storeOpened ? this.store.close() : undefined),
      () => this.runLogger.close(),
    ];
    let failure: unknown;
    for (const part of parts) {
      try {
        await part();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * The flow as a Mermaid flowchart: events (rounded), steps, associations, triggers (labelled
   * with their status) and expressions.
   */
  toMermaid(): string {
    return renderMermaid(flowGraph(this.toSpec()));
  }

  /** The flow as plain data, exactly as it will be validated and run. */
  toSpec(): FlowSpec {
    const eventName = (atom: EventRef | string) => this.nameOf(atom, 'event', 'an expression');
    return {
      name: this.name,
      events: this.events.map(({ name, expr }) => (expr === undefined ? { name } : { name, expr: normalizeExpr(expr, eventName) })),
      steps: this.steps.map(({ triggerInput, ...step }) => {
        const triggers: StepSpec['triggers'] = {};
        for (const [status, events] of Object.entries(triggerInput ?? {})) {
          triggers[status as StepStatus] = (events ?? []).map((event) => this.nameOf(event, 'event', `the ${status} triggers of step '${step.name}'`));
        }
        return { ...step, triggers };
      }),
      assocs: this.assocs.map(({ event, targets, delay }): AssocSpec => {
        const source = this.nameOf(event, 'event', 'an association');
        return { event: source, delay, targets: targets.map((target) => this.targetOf(target, source)) };
      }),
      triggers: [...this.pendingTriggers],
      pools: [...this.pools.values()].map((pool) => ({ name: pool.name, limit: pool.limit })),
      config: resolveRunConfig(this.options.config),
    };
  }

  /** Validates the flow, opens the store, finds the run to take up, and makes its supervisor; once. */
  private prepare(): Promise<Supervisor> {
    this.preparing ??= this.createSupervisor().then((supervisor) => {
      this.supervisor = supervisor;
      return supervisor;
    });
    return this.preparing;
  }

  private async createSupervisor(): Promise<Supervisor> {
    const spec = this.toSpec();
    validateFlow(spec);
    const plan = planFlow(spec, this.pools);
    for (const step of plan.steps.values()) {
      if (step.spec.module !== undefined) await checkModule(step.spec);
    }
    const logFile = this.config.logging.file ?? this.store.durable;
    if (logFile) makeLogFolder(this.config.logdir);
    const executors = this.executors(plan);
    await this.openStore();
    const fingerprint = fingerprintFlow(spec);
    const taken = this.mode === RunMode.restart ? await this.newRun(spec, fingerprint) : await this.takeUpRun(spec, fingerprint);
    const supervisor = new Supervisor(plan, {
      run: taken.run,
      replay: taken.replay,
      store: this.store,
      logger: this.logger,
      host: hostname(),
      executors,
      listeners: this.listeners,
    });
    if (logFile) {
      this.runLogger.attachFile(join(resolve(this.config.logdir), `${this.name}-${taken.run.runId}.jsonl`), { runId: taken.run.runId, recovery: taken.run.recovery });
    }
    if (taken.restore) supervisor.restore(taken.restore);
    const what = this.mode === RunMode.restart ? 'Starting run' : this.mode === RunMode.recover ? `Recovering (recovery ${taken.run.recovery}) run` : `Continuing (recovery ${taken.run.recovery}) run`;
    this.logger.info(`${what} ${taken.run.runId} of flow ${this.name} (store: ${this.store.location})`);
    return supervisor;
  }

  /** One executor of each kind the flow uses; worker threads start only when a worker step runs. */
  private executors(plan: FlowPlan): Map<string, Executor> {
    const used = new Set([...plan.steps.values()].map((step) => step.executor));
    const executors = new Map<string, Executor>();
    for (const kind of used) {
      if (kind === 'inline') executors.set(kind, new InlineExecutor());
      else if (kind === 'command') executors.set(kind, new CommandExecutor());
      else if (kind === 'process') executors.set(kind, new ProcessExecutor());
      else if (kind === 'worker') executors.set(kind, new WorkerExecutor(this.config.workers));
    }
    this.openExecutors = [...executors.values()];
    return executors;
  }

  private async openStore(): Promise<void> {
    if (this.storeOpened) return;
    await this.store.open();
    this.storeOpened = true;
  }

  private runRecord(spec: FlowSpec, fingerprint: string, runId: string, recovery: number, startedAt: number): RunRecord {
    return {
      v: RECORD_VERSION,
      kind: 'run',
      runId,
      name: this.name,
      startedAt,
      recovery,
      status: 'running',
      updatedAt: Date.now(),
      fingerprint,
      parents: [-1],
      steps: spec.steps.map((step) => step.name),
      events: spec.events.map((event) => event.name),
      counts: {},
    };
  }

  private async newRun(spec: FlowSpec, fingerprint: string): Promise<TakenRun> {
    if (await this.store.getRun(this.resolvedRunId)) {
      throw new RecoveryError(`run ${this.resolvedRunId} is already in store ${this.store.location}: recover or continue it with RunMode.recover or RunMode.continue, or start a new run without giving runId`);
    }
    if (this.config.dayToKeepDb > 0) {
      const deleted = await this.deleteRuns({ olderThanDays: this.config.dayToKeepDb });
      if (deleted.length) this.logger.info(`Deleted ${deleted.length} run(s) older than ${this.config.dayToKeepDb} day(s) (dayToKeepDb)`);
    }
    return { run: this.runRecord(spec, fingerprint, this.resolvedRunId, 0, Date.now()) };
  }

  /** Finds the run that recover or continue takes up, and checks that this flow made it. */
  private async takeUpRun(spec: FlowSpec, fingerprint: string): Promise<TakenRun> {
    let stored: RunRecord | undefined;
    if (this.options.runId !== undefined) {
      stored = await this.store.getRun(this.options.runId);
      if (!stored) throw new RunNotFoundError(`run ${this.options.runId} is not in store ${this.store.location}: list the runs it has with listRuns(), or leave runId out to take the latest`);
    } else {
      stored = latestRun(await this.store.listRuns());
      if (!stored) throw new NoRunToRecoverError(`store ${this.store.location} has no run to ${this.mode}: run the flow once with RunMode.restart first`);
    }
    this.resolvedRunId = stored.runId;
    if (stored.fingerprint !== fingerprint) {
      const added = [...spec.steps.map((step) => `step ${step.name}`).filter((name) => !stored.steps.includes(name.slice(5))), ...spec.events.map((event) => `event ${event.name}`).filter((name) => !stored.events.includes(name.slice(6)))];
      const removed = [...stored.steps.filter((name) => !spec.steps.some((step) => step.name === name)).map((name) => `step ${name}`), ...stored.events.filter((name) => !spec.events.some((event) => event.name === name)).map((name) => `event ${name}`)];
      throw new FlowChangedError(stored.runId, added, removed);
    }
    if (this.mode === RunMode.continue) {
      const restore = await this.store.loadRecovery(stored.runId, stored.recovery);
      const parent = stored.parents?.[stored.recovery] ?? stored.recovery - 1;
      return { run: { ...stored, status: 'running' }, restore, replay: parent >= 0 ? await this.lineageTasks(stored, parent) : undefined };
    }
    const from = this.options.recoveryRun ?? stored.recovery;
    if (from > stored.recovery) {
      throw new RunNotFoundError(`run ${stored.runId} has no recovery ${from}: its recoveries are 0 to ${stored.recovery}; leave recoveryRun out to take the latest`);
    }
    const replay = await this.lineageTasks(stored, from);
    const parents = stored.parents ?? Array.from({ length: stored.recovery + 1 }, (_, recovery) => recovery - 1);
    return { run: { ...stored, recovery: stored.recovery + 1, parents: [...parents, from], status: 'running' }, replay };
  }

  /**
   * The latest record of every task as recovery `recovery` saw it: its own records over those
   * of the recovery it took up, and so on back to the first run. A recovery that was killed
   * before it had replayed every task so loses none of them.
   */
  private async lineageTasks(run: RunRecord, recovery: number): Promise<Map<string, TaskRecord>> {
    const lineage: number[] = [];
    for (let at = recovery; at >= 0 && !lineage.includes(at); at = run.parents?.[at] ?? at - 1) lineage.unshift(at);
    const tasks = new Map<string, TaskRecord>();
    for (const at of lineage) {
      for (const task of (await this.store.loadRecovery(run.runId, at)).tasks) tasks.set(taskKey(task.step, task.sequence), task);
    }
    return tasks;
  }

  private assertBuilding(): void {
    if (this.closed) throw new ClosedError(`Eventor '${this.name}' is closed: make a new one to build a flow`);
    if (this.supervisor) throw new EventorError(`Eventor '${this.name}' is already running: add events, steps and associations before the first run()`);
  }

  /** The name a reference stands for, refusing references made by another Eventor. */
  private nameOf(ref: EventRef | StepRef | string, kind: 'event' | 'step', where: string): string {
    if (typeof ref === 'string') return ref;
    if (ref === null || typeof ref !== 'object' || typeof ref.name !== 'string') {
      throw new ValidationError(`${where} got ${String(ref)} where ${kind === 'event' ? 'an event' : 'a step'} was expected`);
    }
    if (ref.owner !== this) throw new ForeignReferenceError(ref.kind, ref.name, where);
    if (ref.kind !== kind) throw new ValidationError(`${where} names ${ref.kind} '${ref.name}' where ${kind === 'event' ? 'an event' : 'a step'} is needed`);
    return ref.name;
  }

  private targetOf(target: Target, source: string): TargetSpec {
    const where = `the association of event '${source}'`;
    if (typeof target !== 'string') return { kind: target.kind, name: this.nameOf(target, target.kind, where) };
    // A bare name means the step of that name if there is one, else the event.
    if (this.stepNames.has(target)) return { kind: 'step', name: target };
    if (this.eventRefs.has(target)) return { kind: 'event', name: target };
    throw new UnknownNameError('step or event', target, where);
  }

  private sequenceOf(sequence: number | string | undefined): Sequence {
    if (sequence === undefined) return String(this.nextSequence++);
    if (typeof sequence !== 'number' && typeof sequence !== 'string') throw new ValidationError(`triggerEvent got sequence ${describe(sequence)}: a sequence is a number or a non-empty string`);
    const text = String(sequence);
    if (text.includes('\u0000')) throw new ValidationError(`triggerEvent got sequence ${JSON.stringify(text)}: a sequence cannot hold the character \\u0000, which the store keeps as a separator`);
    if (text === '' || (typeof sequence === 'number' && !Number.isFinite(sequence))) {
      throw new ValidationError(`triggerEvent got sequence ${JSON.stringify(sequence)}: a sequence is a number or a non-empty string`);
    }
    if (/^\d+$/.test(text)) this.nextSequence = Math.max(this.nextSequence, Number(text) + 1);
    return text;
  }
}
