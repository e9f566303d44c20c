import { basename } from 'node:path';
import { claimsByName, type ResourcePool } from '../actors/resource-pool.js';
import { checkRuntimeOptions, FlowRuntime, type RunSummary, type RuntimeOptions } from '../actors/runtime.js';
import type { Todos, TransitionListener } from '../actors/supervisor.js';
import { resolveRunConfig, type StepConfig } from '../model/config.js';
import { ClosedError, describe, OptionError, DuplicateNameError, EventorError, ForeignReferenceError, StepCodeError, UnknownNameError, ValidationError } from '../model/errors.js';
import { normalizeExpr, type EventRef, type ExprInput, type StepRef } from '../model/expr.js';
import type { AssocSpec, ContainerSpec, FlowSpec, Sequence, StepFunction, StepSpec, TargetSpec, TriggerSpec } from '../model/spec.js';
import type { StepReplay, StepStatus, TaskStatus, TriggerStatus } from '../model/status.js';
import { flowGraph, renderMermaid, type Graph } from '../observe/mermaid.js';
import { fromMachineConfig, type MachineConfigOptions } from './machine-config.js';

export type { RunSummary } from '../actors/runtime.js';

/** How an Eventor is made: the runtime's options, with a name that defaults to the flow module's base name. */
export interface EventorOptions extends Omit<RuntimeOptions, 'name'> {
  /** Names the flow in logs and the default store folder; defaults to the flow module's base name. */
  name?: string;
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
  /** Hosts whose agents run the step, once each per sequence; needs NATS (`config.nats` or EVENTOR_NATS_URL). */
  hosts?: string[];
  /** A work queue: each task runs once, on any agent that serves it; needs NATS. */
  queue?: string;
  /** @internal A Sequent container read back from a machine config: the runtime runs its children's repeats. */
  container?: ContainerSpec;
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

/** Refuses a name that is not a non-empty string, before it could reach a store key or a log line. */
function assertName(name: unknown, where: string, kind: string): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new ValidationError(`${where} got ${describe(name)} as the ${kind}'s name: a name is a non-empty string`);
  if (name.includes('\u0000')) throw new ValidationError(`${where} got ${JSON.stringify(name)} as the ${kind}'s name: a name cannot hold the character \\u0000, which the store keeps as a separator`);
}

/** Refuses options of the wrong type with the option's name, rather than letting them fail later as a TypeError. */
function checkOptionTypes(options: EventorOptions): void {
  const { name } = options;
  if (name !== undefined) {
    assertName(name, 'new Eventor', 'flow');
    // The name makes the default store folder and the log file names: it must stay one path part.
    if (/[/\\]/.test(name) || name === '.' || name === '..') throw new OptionError('name', name, 'a flow name without / or \\ that is not . or .. (it names the store folder .eventor/<name>)', 'new Eventor');
  }
  checkRuntimeOptions(options, 'new Eventor');
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
  if (options.hosts !== undefined && !Array.isArray(options.hosts)) fail('hosts', "a list of agents' host names, ['node1', 'node2']");
  if (options.queue !== undefined && typeof options.queue !== 'string') fail('queue', 'the name of a work queue');
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
  private readonly runtime: FlowRuntime;
  private readonly eventRefs = new Map<string, EventRef>();
  private readonly events: { name: string; expr?: ExprInput }[] = [];
  private readonly steps: (Omit<StepSpec, 'triggers'> & { triggerInput: AddStepOptions['triggers'] })[] = [];
  private readonly assocs: { event: EventRef | string; targets: Target[]; delay: number }[] = [];
  private readonly pendingTriggers: TriggerSpec[] = [];
  private readonly stepNames = new Set<string>();
  private readonly pools = new Map<string, ResourcePool>();
  private nextSequence = 1;

  constructor(options: EventorOptions = {}) {
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { name, store, config, ... }', 'new Eventor');
    checkOptionTypes(options);
    this.options = options;
    this.name = options.name ?? defaultFlowName();
    this.runtime = new FlowRuntime({ ...options, name: this.name });
  }

  /**
   * An Eventor that runs the flow a machine config describes (as `toXStateConfig` writes it),
   * its step code resolved from `implementations`, modules (relative to `baseDir`) or commands.
   * @example
   * const ev = Eventor.fromMachineConfig(config, { implementations: { extract, load }, store: ':memory:' });
   */
  static fromMachineConfig(config: unknown, options: MachineConfigOptions = {}): Eventor {
    return fromMachineConfig(config, options);
  }

  /** The id of the run: given, made for a new run, or (recover and continue) found in the store by `run()`. */
  get runId(): string {
    return this.runtime.runId;
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
    this.steps.push({
      name,
      ...code,
      args: args ?? [],
      recovery: recovery ?? {},
      config: config ?? {},
      triggerInput: triggers ?? {},
      acquires: claimsByName(name, 'acquires', acquires, this.pools),
      releases: claimsByName(name, 'releases', releases, this.pools),
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
    if (this.runtime.isClosed) throw new ClosedError(`Eventor '${this.name}' is closed: make a new one to trigger events`);
    const name = this.nameOf(event, 'event', 'triggerEvent');
    const seq = this.sequenceOf(sequence);
    if (this.runtime.prepared) this.runtime.trigger(name, seq);
    else this.pendingTriggers.push({ event: name, sequence: seq });
    return seq;
  }

  /** Runs the flow; resolves true unless a failure went unhandled or the run was stopped. */
  async run(options: RunOptions = {}): Promise<boolean> {
    if (this.runtime.isClosed) throw new ClosedError(`Eventor '${this.name}' is closed: make a new one to run again`);
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { maxLoops } or {}', 'run()');
    if (options.maxLoops !== undefined && !Number.isInteger(options.maxLoops)) throw new OptionError('maxLoops', options.maxLoops, 'a whole number of loops (0 or less: no limit)', 'run()');
    await this.runtime.prepare(() => this.toSpec(), this.pools);
    return this.runtime.run(() => this.toSpec(), this.pools, options.maxLoops ?? 0, this.pendingTriggers.splice(0));
  }

  /**
   * Work not finished yet: tasks waiting on a delay, ready or active, and delayed events. In
   * continue mode it reads the stored run, so it can be asked before `run()`.
   */
  countTodos(): Promise<Todos> {
    return this.runtime.countTodos(() => this.toSpec(), this.pools);
  }

  /** The runs in this flow's store, oldest first. */
  listRuns(): Promise<RunSummary[]> {
    return this.runtime.listRuns();
  }

  /** Deletes the runs started more than `olderThanDays` days ago, but never the current one; returns their ids. */
  deleteRuns(options: { olderThanDays: number }): Promise<string[]> {
    return this.runtime.deleteRuns(options);
  }

  /**
   * From inside a running step: resolves with the first of `events` to fire for `sequence` in
   * this run, or with undefined once nothing left could make one fire; rejects if the run stops.
   * The step gives its concurrency slot back while it waits.
   */
  waitForEvent(events: EventRef | string | readonly (EventRef | string)[], sequence: number | string): Promise<string | undefined> {
    const names = (Array.isArray(events) ? events : [events]).map((event: EventRef | string) => this.nameOf(event, 'event', 'waitForEvent'));
    return this.runtime.waitForEvent(names, String(sequence));
  }

  /** The status of a task of this run (a step for a sequence), as its machine says, if it has one yet. */
  statusOf(step: StepRef | string, sequence: number | string): TaskStatus | undefined {
    return this.runtime.statusOf(this.nameOf(step, 'step', 'statusOf'), String(sequence));
  }

  /**
   * Stops a run that is going: no new task starts, running steps see `currentStep().signal`
   * abort and may finish; `run()` then resolves false. Resolves when the run has ended.
   */
  cancel(reason = 'cancelled by the user'): Promise<void> {
    return this.runtime.cancel(reason);
  }

  /** Calls `listener` on every task transition; returns the function that stops it. */
  subscribe(listener: TransitionListener): () => void {
    return this.runtime.subscribe(listener);
  }

  /** Ends a run still going, then releases the store and every actor; the Eventor cannot run again. */
  close(): Promise<void> {
    return this.runtime.close();
  }

  /**
   * The flow as a Mermaid flowchart: events (rounded), steps, associations, triggers (labelled
   * with their status) and expressions.
   */
  toMermaid(): string {
    return renderMermaid(this.toGraph());
  }

  /** The flow as a graph of events and steps, as Mermaid, DOT and SVG draw it. */
  toGraph(): Graph {
    return flowGraph(this.toSpec());
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
      pools: [...this.pools.values()].map((pool) => ({ name: pool.name, limit: pool.limit, ...(pool.shared ? { shared: true } : {}) })),
      config: resolveRunConfig(this.options.config),
    };
  }

  private assertBuilding(): void {
    if (this.runtime.isClosed) throw new ClosedError(`Eventor '${this.name}' is closed: make a new one to build a flow`);
    if (this.runtime.prepared) throw new EventorError(`Eventor '${this.name}' is already running: add events, steps and associations before the first run()`);
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
