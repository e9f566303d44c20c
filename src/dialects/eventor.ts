import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { InlineExecutor } from '../actors/inline-executor.js';
import type { Executor } from '../actors/executor.js';
import { planFlow } from '../actors/flow-plan.js';
import { Supervisor, type Todos, type TransitionListener } from '../actors/supervisor.js';
import { resolveRunConfig, type RunConfigInput, type StepConfig } from '../model/config.js';
import { ClosedError, ConfigError, DuplicateNameError, EventorError, ForeignReferenceError, RecoveryError, StoreError, UnknownNameError, ValidationError } from '../model/errors.js';
import { normalizeExpr, type EventRef, type ExprInput, type StepRef } from '../model/expr.js';
import type { AssocSpec, FlowSpec, Sequence, StepFunction, StepSpec, TargetSpec, TriggerSpec } from '../model/spec.js';
import { RunMode, type StepReplay, type StepStatus, type TaskStatus, type TriggerStatus } from '../model/status.js';
import { validateFlow } from '../model/validate.js';
import { createConsoleLogger, type LineSink, type Logger } from '../observe/log.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/store.js';

/** How an Eventor is made. */
export interface EventorOptions {
  /** Names the flow in logs and in the store; defaults to 'eventor'. */
  name?: string;
  /** ':memory:' keeps the run in this process only. */
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
  module?: string;
  export?: string;
  command?: string | string[];
  args?: unknown[];
  /** Passed to the code as its last argument. */
  kwargs?: Record<string, unknown>;
  triggers?: Partial<Record<TriggerStatus, readonly (EventRef | string)[]>>;
  recovery?: Partial<Record<TaskStatus, StepReplay>>;
  config?: StepConfig;
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

/** A new run id: sortable by time, unique enough to share a store. */
function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('Z', '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
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
  readonly runId: string;
  private readonly options: EventorOptions;
  private readonly store: Store;
  private readonly logger: Logger;
  private readonly eventRefs = new Map<string, EventRef>();
  private readonly events: { name: string; expr?: ExprInput }[] = [];
  private readonly steps: (Omit<StepSpec, 'triggers'> & { triggerInput: AddStepOptions['triggers'] })[] = [];
  private readonly assocs: { event: EventRef | string; targets: Target[]; delay: number }[] = [];
  private readonly pendingTriggers: TriggerSpec[] = [];
  private readonly listeners = new Set<TransitionListener>();
  private readonly stepNames = new Set<string>();
  private supervisor: Supervisor | undefined;
  private nextSequence = 1;
  private closed = false;

  constructor(options: EventorOptions = {}) {
    this.options = options;
    this.name = options.name ?? 'eventor';
    this.runId = options.runId ?? newRunId();
    const config = resolveRunConfig(options.config);
    this.logger = createConsoleLogger(`Run-${this.name}`, { ...config.logging, sink: options.logSink });
    this.store = this.openStore(options.store ?? ':memory:');
    const mode = options.runMode ?? RunMode.restart;
    if (!Object.values(RunMode).includes(mode)) throw new ValidationError(`runMode '${String(mode)}' does not exist: use one of ${Object.values(RunMode).join(', ')}`);
    if (mode !== RunMode.restart && !this.store.durable) {
      throw new RecoveryError(`runMode '${mode}' needs a store that keeps runs, and '${this.store.location}' keeps nothing: give store a LevelDB folder`);
    }
  }

  /** Adds an event; with `expr`, it fires by itself once its expression holds for a sequence. */
  addEvent(name: string, options: { expr?: ExprInput } = {}): EventRef {
    this.assertBuilding();
    if (this.eventRefs.has(name)) throw new DuplicateNameError('event', name);
    const ref: EventRef = { kind: 'event', name, owner: this };
    this.eventRefs.set(name, ref);
    this.events.push({ name, expr: options.expr });
    return ref;
  }

  /** Adds a step: its code, and the events its statuses trigger. */
  addStep(name: string, options: AddStepOptions): StepRef {
    this.assertBuilding();
    if (this.stepNames.has(name)) throw new DuplicateNameError('step', name);
    this.stepNames.add(name);
    const { triggers, args, recovery, config, ...code } = options;
    this.steps.push({ name, ...code, args: args ?? [], recovery: recovery ?? {}, config: config ?? {}, triggerInput: triggers ?? {} });
    return { kind: 'step', name, owner: this };
  }

  /** When `event` fires, triggers each target (a step gets a task, an event fires) with the same sequence. */
  addAssoc(event: EventRef | string, ...targets: (Target | AssocOptions)[]): void {
    this.assertBuilding();
    const last = targets.at(-1);
    const options = isAssocOptions(last) ? (targets.pop() as AssocOptions) : {};
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
    if (!this.supervisor) {
      this.supervisor = this.createSupervisor();
      this.logger.info(`Starting run ${this.runId} of flow ${this.name} (store: ${this.store.location})`);
    }
    for (const { event, sequence } of this.pendingTriggers.splice(0)) this.supervisor.trigger(event, sequence);
    return this.supervisor.run(options.maxLoops ?? 0);
  }

  /** Work not finished yet: tasks waiting on a delay, ready or active, and delayed events. */
  async countTodos(): Promise<Todos> {
    return this.supervisor?.countTodos() ?? { total: 0, byStep: {} };
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
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Releases the store and every actor; the Eventor cannot run again. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.supervisor?.close();
    await this.store.close();
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
      config: resolveRunConfig(this.options.config),
    };
  }

  private createSupervisor(): Supervisor {
    const spec = this.toSpec();
    validateFlow(spec);
    const plan = planFlow(spec);
    const executors = new Map<string, Executor>([['inline', new InlineExecutor()]]);
    for (const step of plan.steps.values()) {
      // Settings this version cannot honour yet are refused rather than silently ignored.
      for (const key of ['timeout', 'retries', 'retryDelay'] as const) {
        if (step.spec.config[key] !== undefined) throw new ConfigError(key, step.spec.config[key], 'nothing: this version of Eventor does not support it yet', step.name);
      }
      if (!executors.has(step.executor)) {
        throw new ValidationError(`step '${step.name}' needs the '${step.executor}' executor, which this version of Eventor does not have yet: give the step a func (inline executor)`);
      }
    }
    return new Supervisor(plan, {
      runId: this.runId,
      recovery: 0,
      store: this.store,
      logger: this.logger,
      host: hostname(),
      executors,
      listeners: this.listeners,
    });
  }

  private openStore(location: string): Store {
    if (location === ':memory:') return new MemoryStore();
    throw new StoreError(`store '${location}' cannot be opened: this version keeps runs in memory only; pass store: ':memory:'`);
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
    const text = String(sequence);
    if (text === '' || (typeof sequence === 'number' && !Number.isFinite(sequence))) {
      throw new ValidationError(`triggerEvent got sequence ${JSON.stringify(sequence)}: a sequence is a number or a non-empty string`);
    }
    if (/^\d+$/.test(text)) this.nextSequence = Math.max(this.nextSequence, Number(text) + 1);
    return text;
  }
}
