import { currentStep } from '../executors/step-context.js';
import { claimsByName, type ResourcePool } from '../actors/resource-pool.js';
import { checkRuntimeOptions, FlowRuntime, type RunSummary } from '../actors/runtime.js';
import type { Todos, TransitionListener } from '../actors/supervisor.js';
import { resolveRunConfig, type StepConfig } from '../model/config.js';
import { describe, DuplicateNameError, EventorError, ForeignReferenceError, OptionError, ValidationError } from '../model/errors.js';
import type { Expr, ExprNode } from '../model/expr.js';
import type { AssocSpec, EventSpec, FlowSpec, StepFunction, StepSpec } from '../model/spec.js';
import { RunMode, type StepReplay, type TaskStatus } from '../model/status.js';
import { renderMermaid, type Graph } from '../observe/mermaid.js';
import type { EventorOptions } from './eventor.js';

/** A requirement on a sibling: `[step, status]`, or an event made with `addEvent`. */
export type Requirement = readonly [SequentStep, RequireStatus] | SequentEvent;

/** The statuses a requirement may wait for; `complete` is success or failure. */
export type RequireStatus = 'success' | 'failure' | 'complete' | 'active' | 'ready';

/**
 * What a step or event requires: all of a list, or `or(...)` of requirements (they nest). The
 * nodes are typed loosely because `or([a, 'success'], ...)` cannot tell a pair from a list; the
 * shape is checked when the flow is built.
 */
export type Requires = readonly (Requirement | ExprNode<unknown>)[] | ExprNode<unknown>;

/** How a Sequent is made: as an Eventor, with `SEQUENT_` as the prefix of step variables. */
export type SequentOptions = EventorOptions;

/** A step of a Sequent: code to run, or (with `repeats`, or without code) a container of steps. */
export interface SequentStepOptions {
  func?: StepFunction;
  module?: string;
  export?: string;
  command?: string | string[];
  cwd?: string;
  env?: Record<string, string>;
  /** Replace `${sequence}`, `${step}` and `${env.NAME}` in the command for each task. */
  placeholders?: boolean;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  /** What must hold among its siblings before it starts; none: it starts with its container's repeat. */
  requires?: Requires;
  /** Seconds to wait once its requirements hold. */
  delay?: number;
  /** A container's repeats: a list of values, or a count N for 1 to N. */
  repeats?: readonly (number | string)[] | number;
  acquires?: [ResourcePool, number][];
  releases?: [ResourcePool, number][];
  recovery?: Partial<Record<TaskStatus, StepReplay>>;
  config?: StepConfig;
  /** Hosts to run on: only 'localhost' until steps on other hosts arrive with the NATS executor. */
  hosts?: string[];
}

/** Options of `Sequent.run()`. */
export interface SequentRunOptions {
  maxLoops?: number;
  /** Run again in another mode (a recovery of the run just made, say) with the same flow. */
  runMode?: RunMode;
}

/** A node of the tree: where it sits, and what it is called in the compiled flow. */
abstract class Node {
  constructor(
    readonly name: string,
    readonly parent: Container | undefined,
    readonly root: Sequent,
  ) {}

  /** The name of the compiled task: the path from the top, joined with `_` (`s1_s11_s111`). */
  get path(): string {
    return this.parent && this.parent.parent ? `${this.parent.path}_${this.name}` : this.name;
  }
}

/** An event of a Sequent: it fires, for a repeat, once its requirements hold. */
export class SequentEvent extends Node {
  constructor(
    name: string,
    parent: Container,
    root: Sequent,
    readonly requires: Requires,
  ) {
    super(name, parent, root);
  }
}

/** A step of a Sequent, as `addStep` returns it; a container also has `addStep` and `addEvent`. */
export class SequentStep extends Node {
  readonly children: (SequentStep | SequentEvent)[] = [];
  readonly repeats: readonly string[];

  constructor(
    name: string,
    parent: Container | undefined,
    root: Sequent,
    readonly options: SequentStepOptions,
  ) {
    super(name, parent, root);
    const { repeats } = options;
    this.repeats = repeats === undefined ? ['1'] : typeof repeats === 'number' ? Array.from({ length: repeats }, (_, i) => String(i + 1)) : repeats.map(String);
  }

  /** Whether this step holds other steps rather than code. */
  get isContainer(): boolean {
    const { func, module, command, repeats } = this.options;
    return repeats !== undefined || (func === undefined && module === undefined && command === undefined);
  }

  /** Adds a step inside this container. */
  addStep(name: string, options: SequentStepOptions = {}): SequentStep {
    if (!this.isContainer) throw new ValidationError(`step '${this.path}' runs code, so it cannot hold steps: give it repeats and no code to make it a container`);
    return this.root.adopt(this, new SequentStep(name, this, this.root, options));
  }

  /** Adds an event inside this container, for its steps to require. */
  addEvent(name: string, options: { requires: Requires }): SequentEvent {
    if (!this.isContainer) throw new ValidationError(`step '${this.path}' runs code, so it cannot hold events`);
    return this.root.adopt(this, new SequentEvent(name, this, this.root, options.requires));
  }
}

type Container = SequentStep;

/** The `[step, status]` pairs anywhere in a requirement, for seeing which failures it handles. */
function pairsOf(requires: unknown): (readonly [SequentStep, RequireStatus])[] {
  if (Array.isArray(requires) && requires.length === 2 && requires[0] instanceof SequentStep) return [requires as unknown as readonly [SequentStep, RequireStatus]];
  if (Array.isArray(requires)) return requires.flatMap(pairsOf);
  if (requires && typeof requires === 'object' && 'items' in requires) return (requires as ExprNode<unknown>).items.flatMap(pairsOf);
  return [];
}

/** The events anywhere in a requirement. */
function eventsOf(requires: unknown): SequentEvent[] {
  if (requires instanceof SequentEvent) return [requires];
  if (Array.isArray(requires) && !(requires.length === 2 && requires[0] instanceof SequentStep)) return requires.flatMap(eventsOf);
  if (requires && typeof requires === 'object' && 'items' in requires) return (requires as ExprNode<unknown>).items.flatMap(eventsOf);
  return [];
}

/** Declares a compiled event once, whatever asks for it first; returns its name. */
type DeclareEvent = (name: string, expr?: Expr) => string;

/** What a Sequent compiles into: the flow, and the user's pools by name. */
interface Compiled {
  spec: FlowSpec;
  pools: Map<string, ResourcePool>;
}

/** The event that starts the top of the flow; inner containers start with `<path>:start`. */
const START = ':start';
const eventName = (node: Node, status: string) => `${node.path}:${status}`;

/**
 * Flows of nested steps: "A1 and A2 run side by side, then B, and when B succeeds C1 and C2".
 * Containers run their children once per repeat, one repeat after the other. A Sequent compiles
 * to a FlowSpec (steps, events, associations; containers as container steps that the runtime
 * runs) and runs on the same runtime as every dialect, so it is recovered the same way.
 * @example
 * const flow = new Sequent({ name: 'etl' });
 * const a1 = flow.addStep('A1', { command: ['./extract.sh', 'db1'] });
 * const a2 = flow.addStep('A2', { command: ['./extract.sh', 'db2'] });
 * flow.addStep('B', { command: './process.sh', requires: [[a1, 'success'], [a2, 'success']] });
 * await flow.run();
 */
export class Sequent {
  readonly name: string;
  private readonly top: SequentStep;
  private readonly options: SequentOptions;
  private readonly names = new Map<string, Node>();
  private readonly listeners = new Set<TransitionListener>();
  private runtime: FlowRuntime | undefined;
  private compiled: Compiled | undefined;
  private lastRunId: string | undefined;

  constructor(options: SequentOptions = {}) {
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { name, store, config, ... }', 'new Sequent');
    checkRuntimeOptions(options, 'new Sequent');
    this.options = options;
    this.name = options.name ?? 'sequent';
    this.top = new SequentStep(this.name, undefined, this, { repeats: ['1'] });
  }

  /** Adds a step at the top of the flow: code to run, or a container of steps. */
  addStep(name: string, options: SequentStepOptions = {}): SequentStep {
    return this.adopt(this.top, new SequentStep(name, this.top, this, options));
  }

  /** Adds an event at the top of the flow, for steps to require. */
  addEvent(name: string, options: { requires: Requires }): SequentEvent {
    return this.adopt(this.top, new SequentEvent(name, this.top, this, options.requires));
  }

  /** @internal */
  adopt<T extends SequentStep | SequentEvent>(parent: Container, child: T): T {
    if (this.runtime) throw new EventorError(`Sequent '${this.name}' has run: add steps before the first run()`);
    if (!child.name || /[:\s]/.test(child.name)) throw new ValidationError(`'${child.name}' cannot name a step or event of a Sequent: use a name without ':' or spaces`);
    if (this.names.has(child.path)) throw new DuplicateNameError(child instanceof SequentEvent ? 'event' : 'step', child.path);
    const hosts = child instanceof SequentStep ? child.options.hosts : undefined;
    if (hosts && hosts.some((host) => host !== 'localhost')) {
      throw new ValidationError(`step '${child.path}' is to run on ${hosts.join(', ')}: steps on other hosts need the NATS executor, which this version of Eventor does not have yet; leave hosts out to run here`);
    }
    const requires = child instanceof SequentEvent ? child.requires : child.options.requires;
    if (requires !== undefined && Array.isArray(requires) && requires.length === 0) throw new ValidationError(`'${child.path}' has requires: [] — give it at least one requirement, or leave requires out to start with its container`);
    this.names.set(child.path, child);
    parent.children.push(child);
    return child;
  }

  /** The id of the run, once `run()` has started one (or found one to recover). */
  get runId(): string {
    return this.runtime?.runId ?? this.lastRunId ?? this.options.runId ?? '';
  }

  /** The name of the step whose code calls it (`s1_s11_s111`). */
  getStepName(): string {
    return currentStep().name;
  }

  /** The sequence of the step whose code calls it (`1.2.2`). */
  getStepSequence(): string {
    return currentStep().sequence;
  }

  /** Calls `listener` on every task transition of the runs of this flow. */
  subscribe(listener: TransitionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The flow as a graph: containers as groups (with their repeats), steps and
   * events as nodes, requirements as arrows labelled with the status they wait for.
   */
  toGraph(): Graph {
    const graph: Graph = { nodes: [], edges: [], groups: [] };
    const visit = (container: Container) => {
      for (const child of container.children) {
        if (child instanceof SequentStep && child.isContainer) {
          const repeats = child.repeats.length > 1 || child.options.repeats !== undefined ? ` (repeats ${child.repeats.join(', ')})` : '';
          graph.groups.push({ id: child.path, label: `${child.name}${repeats}`, members: child.children.map((member) => member.path) });
          visit(child);
        } else graph.nodes.push({ id: child.path, label: child.name, shape: child instanceof SequentEvent ? 'event' : 'step' });
        const requires = child instanceof SequentEvent ? child.requires : child.options.requires;
        if (requires !== undefined) {
          for (const [step, status] of pairsOf(requires)) graph.edges.push({ from: step.path, to: child.path, label: status === 'success' ? undefined : status });
          for (const required of eventsOf(requires)) graph.edges.push({ from: required.path, to: child.path });
        }
      }
    };
    visit(this.top);
    return graph;
  }

  /** The flow as a Mermaid flowchart, as `toGraph()` draws it. */
  toMermaid(): string {
    return renderMermaid(this.toGraph());
  }

  /** Runs the flow; a later `run({ runMode: RunMode.recover })` recovers the run it made. */
  async run(options: SequentRunOptions = {}): Promise<boolean> {
    if (this.runtime) {
      this.lastRunId = this.runtime.runId;
      await this.runtime.close();
      this.runtime = undefined;
    }
    const runMode = options.runMode ?? this.options.runMode;
    const runId = runMode && runMode !== RunMode.restart ? (this.lastRunId ?? this.options.runId) : this.options.runId;
    const runtime = this.open(runMode, runId);
    const { spec, pools } = this.compileOnce();
    return runtime.run(() => spec, pools, options.maxLoops ?? 0, spec.triggers);
  }

  /** Work not finished yet, as `Eventor.countTodos()`. */
  async countTodos(): Promise<Todos> {
    if (!this.runtime) return { total: 0, byStep: {} };
    const { spec, pools } = this.compileOnce();
    return this.runtime.countTodos(() => spec, pools);
  }

  /** The runs in this flow's store, as `Eventor.listRuns()`. */
  async listRuns(): Promise<RunSummary[]> {
    if (this.runtime) return this.runtime.listRuns();
    const runtime = this.open(this.options.runMode, this.options.runId);
    try {
      return await runtime.listRuns();
    } finally {
      await runtime.close();
      this.runtime = undefined;
    }
  }

  /** Stops a run that is going, as `Eventor.cancel()`. */
  async cancel(reason = 'cancelled by the user'): Promise<void> {
    await this.runtime?.cancel(reason);
  }

  async close(): Promise<void> {
    await this.runtime?.close();
  }

  /** The flow as plain data, exactly as it will be validated and run. */
  toSpec(): FlowSpec {
    return this.compileOnce().spec;
  }

  private open(runMode: RunMode | undefined, runId: string | undefined): FlowRuntime {
    const { config, ...rest } = this.options;
    const runtime = new FlowRuntime({ ...rest, name: this.name, runMode, runId, config: { envvarPrefix: 'SEQUENT_', ...config } });
    for (const listener of this.listeners) runtime.subscribe(listener);
    this.runtime = runtime;
    return runtime;
  }

  private compileOnce(): Compiled {
    return (this.compiled ??= this.compile());
  }

  /** Builds the FlowSpec this Sequent stands for. */
  private compile(): Compiled {
    const events: EventSpec[] = [];
    const steps: StepSpec[] = [];
    const assocs: AssocSpec[] = [];
    const pools = new Map<string, ResourcePool>();
    const declared = new Set<string>();
    const event: DeclareEvent = (name, expr) => {
      if (!declared.has(name)) {
        declared.add(name);
        events.push(expr === undefined ? { name } : { name, expr });
      }
      return name;
    };
    const handledBy = new Map<Container, Set<SequentStep>>();
    const handledOf = (container: Container) => {
      let handled = handledBy.get(container);
      if (!handled) handledBy.set(container, (handled = handledIn(container)));
      return handled;
    };
    const compileContainer = (container: Container): void => {
      const isTop = container === this.top;
      const start = isTop ? START : eventName(container, 'start');
      event(start);
      const children = container.children.filter((child): child is SequentStep => child instanceof SequentStep);
      const handled = handledOf(container);
      // Each child reports its statuses as events, for its siblings' requirements and the repeat's end.
      for (const step of children) for (const status of ['success', 'failure', 'ready', 'active'] as const) event(eventName(step, status));
      for (const step of children) event(eventName(step, 'complete'), { op: 'or', items: [eventName(step, 'success'), eventName(step, 'failure')] });
      for (const child of container.children) if (child instanceof SequentEvent) event(child.path, this.requirement(child, child.requires));
      if (!isTop) {
        event(eventName(container, 'done'), children.length ? { op: 'and', items: children.map((step) => eventName(step, 'success')) } : undefined);
        // A failure a sibling handles does not end the repeat: its handler runs first.
        const unhandled = children.filter((step) => !handled.has(step));
        event(eventName(container, 'failed'), unhandled.length ? { op: 'or', items: unhandled.map((step) => eventName(step, 'failure')) } : undefined);
      }
      for (const step of children) {
        // Status events are the Sequent's own wiring, so they do not handle a failure; one that a
        // sibling requires (`[step, 'failure']` or `'complete'`) does, as a trigger would.
        const reports = { success: [eventName(step, 'success')], failure: [eventName(step, 'failure')], ready: [eventName(step, 'ready')], active: [eventName(step, 'active')] };
        const triggers = handled.has(step) ? { failure: [eventName(step, 'failure')] } : {};
        const { func, module, command, cwd, env, placeholders, args, kwargs, recovery, config, delay } = step.options;
        const common = { name: step.path, triggers, reports, recovery: recovery ?? {}, config: config ?? {}, acquires: claimsByName(step.path, 'acquires', step.options.acquires, pools), releases: claimsByName(step.path, 'releases', step.options.releases, pools) };
        if (step.isContainer) {
          const inner = step.children.filter((child): child is SequentStep => child instanceof SequentStep);
          const innerHandled = handledOf(step);
          steps.push({
            ...common,
            args: [],
            container: {
              repeats: [...step.repeats],
              start: eventName(step, 'start'),
              done: eventName(step, 'done'),
              failed: eventName(step, 'failed'),
              children: inner.map((child) => child.path),
              handled: inner.filter((child) => innerHandled.has(child)).map((child) => child.path),
            },
          });
          compileContainer(step);
        } else {
          const code: Partial<StepSpec> = { func, module, export: step.options.export, command, cwd, env, placeholders, kwargs };
          for (const key of Object.keys(code) as (keyof StepSpec)[]) if (code[key] === undefined) delete code[key];
          steps.push({ ...common, ...code, args: args ?? [] });
        }
        const from = step.options.requires === undefined ? start : event(eventName(step, 'requires'), this.requirement(step, step.options.requires));
        assocs.push({ event: from, delay: delay ?? 0, targets: [{ kind: 'step', name: step.path }] });
      }
    };
    compileContainer(this.top);
    const spec: FlowSpec = {
      name: this.name,
      events,
      steps,
      assocs,
      triggers: [{ event: START, sequence: '1' }],
      pools: [...pools.values()].map((pool) => ({ name: pool.name, limit: pool.limit, ...(pool.shared ? { shared: true } : {}) })),
      config: resolveRunConfig({ envvarPrefix: 'SEQUENT_', ...this.options.config }),
    };
    return { spec, pools };
  }

  /** A requirement list as an expression over the compiled events. */
  private requirement(owner: Node, requires: Requires): Expr {
    const atom = (requirement: Requirement): string => {
      if (requirement instanceof SequentEvent) return this.sibling(owner, requirement).path;
      const [step, status] = requirement as readonly [SequentStep, RequireStatus];
      if (!(step instanceof SequentStep)) throw new ValidationError(`the requires of '${owner.path}' hold ${String(step)} where a step or an event of this Sequent is needed`);
      return eventName(this.sibling(owner, step), status);
    };
    const convert = (item: Requirement | ExprNode<Requirement> | readonly unknown[]): Expr => {
      if (Array.isArray(item) && item.length === 2 && item[0] instanceof SequentStep) return atom(item as unknown as Requirement);
      if (Array.isArray(item)) return { op: 'and', items: item.map((part) => convert(part as Requirement)) };
      if (item instanceof SequentEvent) return atom(item);
      const node = item as ExprNode<Requirement>;
      if (node && typeof node === 'object' && 'op' in node) return { op: node.op, items: node.items.map((part) => convert(part as Requirement)) };
      throw new ValidationError(`the requires of '${owner.path}' hold ${describe(item)}: give [step, status] pairs, events, or or(...) of them`);
    };
    return convert(requires as unknown as Requirement);
  }

  /** Checks that a required step or event is a sibling of the one that requires it. */
  private sibling<T extends Node>(owner: Node, required: T): T {
    if (required.root !== this) throw new ForeignReferenceError(required instanceof SequentEvent ? 'event' : 'step', required.path, `the requires of '${owner.path}'`);
    if (required.parent !== owner.parent) {
      throw new ValidationError(`'${owner.path}' requires '${required.path}', which is not in the same container: a step may require only its siblings (require their container instead)`);
    }
    return required;
  }
}

/** The children of a container whose failure a sibling handles, by requiring it. */
function handledIn(container: Container): Set<SequentStep> {
  const handled = new Set<SequentStep>();
  for (const child of container.children) {
    const requires = child instanceof SequentEvent ? child.requires : child.options.requires;
    if (requires !== undefined) for (const [step, status] of pairsOf(requires)) if (status === 'failure' || status === 'complete') handled.add(step);
  }
  return handled;
}
