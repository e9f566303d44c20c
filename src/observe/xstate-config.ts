import { DEFAULT_RUN_CONFIG, type RunConfigInput } from '../model/config.js';
import { describe, ValidationError } from '../model/errors.js';
import type { Expr } from '../model/expr.js';
import type { AssocSpec, ContainerSpec, FlowSpec, PoolSpec, StepFunction, StepSpec, TriggerSpec } from '../model/spec.js';
import type { StepStatus } from '../model/status.js';

/** The `format` of the root `meta.eventor` of a machine config, so that a reader knows the config is a flow of ours. */
export const MACHINE_CONFIG_FORMAT = 'eventor-flow';
/** The version of that format; a reader refuses a version it does not know. */
export const MACHINE_CONFIG_VERSION = 1;

/** Plain JSON, as a machine config holds it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What the root `meta.eventor` of a machine config holds: everything of the flow that is not a step. */
export interface MachineFlowMeta {
  format: typeof MACHINE_CONFIG_FORMAT;
  version: number;
  name: string;
  events: { name: string; expr?: Expr }[];
  assocs: AssocSpec[];
  /** Events fired when the run starts. */
  triggers: TriggerSpec[];
  pools: PoolSpec[];
  /** The run settings that differ from the defaults. */
  config: RunConfigInput;
  /** A module (relative to the config file) whose exports are the implementations that `func` names; read by `loadMachineConfig`. */
  implementations?: string;
}

/** What a region's `meta.eventor` holds: one step, with its code named rather than included. */
export interface MachineStepMeta {
  name: string;
  /** The name of the step's function, looked up in the implementations when the config is read back. */
  func?: string;
  module?: string;
  export?: string;
  command?: string | string[];
  placeholders?: boolean;
  cwd?: string;
  env?: Record<string, string>;
  args?: Json[];
  kwargs?: Record<string, Json>;
  triggers?: StepSpec['triggers'];
  reports?: StepSpec['reports'];
  recovery?: StepSpec['recovery'];
  config?: StepSpec['config'];
  acquires?: [string, number][];
  releases?: [string, number][];
  hosts?: string[];
  queue?: string;
  container?: ContainerSpec;
}

/** A state node of a machine config, as far as Eventor writes them: JSON that `createMachine` takes. */
export interface MachineStateConfig {
  id?: string;
  type?: 'parallel' | 'final';
  initial?: string;
  description?: string;
  entry?: { type: string; params: Record<string, Json> }[];
  on?: Record<string, string | { target: string; meta?: Record<string, Json> }[]>;
  meta?: { eventor: MachineStepMeta | MachineFlowMeta };
  states?: Record<string, MachineStateConfig>;
}

/** A whole flow as an XState machine config: a parallel root whose regions are the steps. */
export interface MachineConfig extends MachineStateConfig {
  id: string;
  type: 'parallel';
  meta: { eventor: MachineFlowMeta };
  states: Record<string, MachineStateConfig>;
}

/** A flow of any dialect: what `toSpec()` gives, or the FlowSpec itself. */
export type FlowLike = FlowSpec | { toSpec(): FlowSpec };

/**
 * A name as a state key or an event type: every character XState reads as syntax (`.` of paths
 * and of `foo.*` wildcards, `*`, `#` of ids) and anything else outside `[A-Za-z0-9_:-]` is
 * percent-encoded, `%` included, so the encoding is reversible and names never collide with the
 * lifecycle events, which are the only types with a `.`.
 */
export function escapeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_:-]/gu, (char) => [...new TextEncoder().encode(char)].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/** The name a state key or event type stands for. */
export function unescapeName(key: string): string {
  return decodeURIComponent(key);
}

const specOf = (flow: FlowLike): FlowSpec => ('toSpec' in flow && typeof flow.toSpec === 'function' ? flow.toSpec() : (flow as FlowSpec));

/** Names that functions get by where they were written, not by what they do: the step's name says more. */
const UNINFORMATIVE = new Set(['', 'func', 'anonymous', 'default']);

/**
 * The name each step's function goes by in a machine config: its own name when no other function
 * of the flow has it, else the step's name (made unique), so that one implementation never
 * stands for two functions.
 */
function implementationNames(steps: readonly StepSpec[]): Map<StepFunction, string> {
  const byOwnName = new Map<string, Set<StepFunction>>();
  for (const { func } of steps) if (func) byOwnName.set(func.name, (byOwnName.get(func.name) ?? new Set()).add(func));
  const names = new Map<StepFunction, string>();
  const taken = new Set<string>();
  for (const { name: step, func } of steps) {
    if (!func || names.has(func)) continue;
    const own = func.name;
    let name = !UNINFORMATIVE.has(own) && byOwnName.get(own)?.size === 1 && !taken.has(own) ? own : step;
    for (let n = 2; taken.has(name); n++) name = `${step}_${n}`;
    names.set(func, name);
    taken.add(name);
  }
  return names;
}

/**
 * The functions a flow's steps run, by the names `toXStateConfig` gives them: what
 * `Eventor.fromMachineConfig` needs as `implementations` to run the exported config.
 * @example
 * const copy = Eventor.fromMachineConfig(toXStateConfig(ev), { implementations: implementationsOf(ev) });
 */
export function implementationsOf(flow: FlowLike): Record<string, StepFunction> {
  return Object.fromEntries([...implementationNames(specOf(flow).steps)].map(([func, name]) => [name, func]));
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value));

/** A copy of `value` as plain JSON, keys of undefined left out; anything else JSON cannot hold is refused, naming where it is. */
function plain(value: unknown, where: string): Json {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
  } else if (Array.isArray(value)) {
    return value.map((item, index) => plain(item, `${where}[${index}]`));
  } else if (isRecord(value)) {
    const copy: Record<string, Json> = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) copy[key] = plain(item, `${where}.${key}`);
    return copy;
  }
  throw new ValidationError(`${where} is ${typeof value === 'function' ? 'a function' : describe(value)}, which a machine config cannot hold (it is plain JSON): give plain data, or name the code in implementations`);
}

/** The run settings that differ from the defaults: what a reader of the config needs, without the noise. */
function changedConfig(config: RunConfigInput): RunConfigInput {
  const changed: Record<string, unknown> = {};
  const defaults = DEFAULT_RUN_CONFIG as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    if (key === 'logging') {
      const logging = Object.fromEntries(Object.entries(value as object).filter(([name, setting]) => setting !== undefined && setting !== (DEFAULT_RUN_CONFIG.logging as Record<string, unknown>)[name]));
      if (Object.keys(logging).length > 0) changed.logging = logging;
    } else if (JSON.stringify(value) !== JSON.stringify(defaults[key])) changed[key] = value;
  }
  return withoutSecrets(plain(changed, 'config')) as RunConfigInput;
}

/** Credentials reach only the connection, never a file a user shares: a config read back gets them from its own run config. */
const SECRETS = new Set(['pass', 'token', 'nkey', 'passphrase']);

function withoutSecrets(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !SECRETS.has(key)).map(([key, item]) => [key, withoutSecrets(item)]));
}

/** The step of a region, code named rather than included, keys without a value left out. */
function stepMeta(step: StepSpec, implementation: string | undefined): MachineStepMeta {
  const where = `step '${step.name}'`;
  const { name, func, module, export: exported, command, placeholders, cwd, env, args, kwargs, container, triggers, reports, recovery, config, acquires, releases, hosts, queue } = step;
  // Written in this order so that a reader sees what the step runs before how it is wired.
  const ordered = { name, func: func ? implementation : undefined, module, export: exported, command, placeholders, cwd, env, args, kwargs, container, triggers, reports, recovery, config, acquires, releases, hosts, queue };
  const meta = plain(ordered, where) as unknown as MachineStepMeta;
  for (const key of ['triggers', 'reports', 'recovery', 'config', 'kwargs'] as const) if (meta[key] && Object.keys(meta[key] as object).length === 0) delete meta[key];
  for (const key of ['args', 'acquires', 'releases'] as const) if (meta[key]?.length === 0) delete meta[key];
  return meta;
}

type Transition = { target: string; meta?: Record<string, Json> };

/**
 * One step's region: its task's statuses as states (`idle` before it has a task), moved by the
 * flow events associated with it and by its own lifecycle events (`<step>.start`, ...). The
 * events its statuses fire are the entry actions of those states.
 */
function stepRegion(step: StepSpec, spec: FlowSpec, children: MachineStateConfig['states'], meta: MachineStepMeta): MachineStateConfig {
  const key = escapeName(step.name);
  const lifecycle = (what: string) => `${key}.${what}`;
  const entries: Record<string, Transition[]> = {};
  for (const assoc of spec.assocs) {
    if (!assoc.targets.some((target) => target.kind === 'step' && target.name === step.name)) continue;
    const transition: Transition = assoc.delay > 0 ? { target: 'waiting', meta: { delay: assoc.delay } } : { target: 'ready' };
    (entries[escapeName(assoc.event)] ??= []).push(transition);
  }
  const fires = (status: StepStatus): MachineStateConfig['entry'] => {
    const actions: NonNullable<MachineStateConfig['entry']> = [];
    const final = status === 'success' || status === 'failure';
    for (const [type, map] of [['trigger', step.triggers], ['report', step.reports ?? {}]] as const) {
      for (const event of map[status] ?? []) actions.push({ type, params: { event } });
      if (final) for (const event of map.complete ?? []) actions.push({ type, params: { event, on: 'complete' } });
    }
    return actions.length > 0 ? actions : undefined;
  };
  const withEntry = (status: StepStatus, node: MachineStateConfig): MachineStateConfig => {
    const entry = fires(status);
    return entry ? { ...node, entry } : node;
  };
  const acquires = (step.acquires?.length ?? 0) > 0;
  const retries = (step.config.retries ?? 0) > 0;
  const active: MachineStateConfig = {
    on: {
      [lifecycle('succeed')]: 'success',
      [lifecycle('fail')]: 'failure',
      ...(retries ? { [lifecycle('retry')]: 'retrying' } : {}),
    },
  };
  // A container's children run while it is active, each repeat one after the other.
  if (children && Object.keys(children).length > 0) Object.assign(active, { type: 'parallel', states: children });
  return {
    initial: 'idle',
    meta: { eventor: meta },
    states: {
      idle: { description: 'no task yet', on: Object.fromEntries(Object.entries(entries).map(([event, list]) => [event, list.length === 1 && !list[0].meta ? list[0].target : list])) },
      waiting: { description: 'a delayed association counts down', on: { [lifecycle('due')]: 'ready' } },
      ready: withEntry('ready', { on: { [lifecycle('start')]: 'active', ...(acquires ? { [lifecycle('wait')]: 'acquiring' } : {}) } }),
      acquiring: { description: 'waits for its resources', on: { [lifecycle('start')]: 'active' } },
      active: withEntry('active', active),
      retrying: { description: 'a failed try waits for the next', on: { [lifecycle('due')]: 'ready' } },
      success: withEntry('success', { type: 'final' }),
      failure: withEntry('failure', { type: 'final' }),
    },
  };
}

/**
 * A flow (an Eventor, a Sequent or a FlowSpec) as an XState machine config, plain JSON: a
 * parallel root with one region per step (a Sequent's containers hold their children's regions
 * in their `active` state), the task statuses as each region's states, transitions labelled by
 * the flow events and lifecycle events that move them, and the rest of the flow in `meta.eventor`
 * (events and expressions, associations and delays, initial triggers, pools, config), with each
 * step's code named in its region's `meta.eventor`. `Eventor.fromMachineConfig` reads it back.
 * @example
 * const machine = createMachine(toXStateConfig(ev));
 */
export function toXStateConfig(flow: FlowLike): MachineConfig {
  const spec = specOf(flow);
  const names = implementationNames(spec.steps);
  const steps = new Map(spec.steps.map((step) => [step.name, step]));
  const nested = new Set(spec.steps.flatMap((step) => step.container?.children ?? []));
  const regions = (members: readonly StepSpec[]): Record<string, MachineStateConfig> => {
    const states: Record<string, MachineStateConfig> = {};
    for (const step of members) {
      const children = step.container ? regions(step.container.children.map((child) => steps.get(child)).filter((child): child is StepSpec => child !== undefined)) : undefined;
      states[escapeName(step.name)] = stepRegion(step, spec, children, stepMeta(step, step.func ? names.get(step.func) : undefined));
    }
    return states;
  };
  const meta: MachineFlowMeta = {
    format: MACHINE_CONFIG_FORMAT,
    version: MACHINE_CONFIG_VERSION,
    name: spec.name,
    events: spec.events.map((event) => plain(event, `event '${event.name}'`) as MachineFlowMeta['events'][number]),
    assocs: spec.assocs.map((assoc) => plain(assoc, `the association of event '${assoc.event}'`) as unknown as AssocSpec),
    triggers: spec.triggers.map((trigger) => ({ event: trigger.event, sequence: trigger.sequence })),
    pools: (spec.pools ?? []).map((pool) => plain(pool, `resource pool '${pool.name}'`) as unknown as PoolSpec),
    config: changedConfig(spec.config),
  };
  return { id: escapeName(spec.name), type: 'parallel', meta: { eventor: meta }, states: regions(spec.steps.filter((step) => !nested.has(step.name))) };
}
