import { readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { ResourcePool } from '../actors/resource-pool.js';
import { resolveRunConfig, type RunConfigInput } from '../model/config.js';
import { describe, ValidationError } from '../model/errors.js';
import type { Expr } from '../model/expr.js';
import type { AssocSpec, EventSpec, FlowSpec, PoolSpec, StepFunction, StepSpec, TriggerSpec } from '../model/spec.js';
import { validateFlow } from '../model/validate.js';
import { MACHINE_CONFIG_FORMAT, MACHINE_CONFIG_VERSION, unescapeName } from '../observe/xstate-config.js';
import { Eventor, type EventorOptions } from './eventor.js';

/** A config that is not a machine config of an Eventor flow, or a file that cannot be read as one; nothing ran. */
export class MachineConfigError extends ValidationError {
  constructor(
    /** Where in the config the problem is (`states.load.meta.eventor.args`), or '' for the whole of it. */
    readonly entry: string,
    problem: string,
    /** The file the config came from, if it came from one. */
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(`${file ? `${file}: ` : ''}${entry ? `${entry}: ` : ''}${problem}`, options);
  }
}

/** A step of a machine config names a function that is not among the implementations given; nothing ran. */
export class UnknownImplementationError extends ValidationError {
  constructor(
    readonly stepName: string,
    readonly implementation: string,
    readonly given: string[],
    readonly file?: string,
  ) {
    const known = given.length > 0 ? `the implementations given are ${given.join(', ')}` : 'no implementations were given';
    const where = file ? `, or export it from the module that meta.eventor.implementations names` : '';
    super(`${file ? `${file}: ` : ''}step '${stepName}' runs implementation '${implementation}', and ${known}: pass implementations: { ${JSON.stringify(implementation)}: fn }${where}, or fix the name in the step's meta.eventor.func`);
  }
}

/** How a machine config is read back: the Eventor's options, the code its steps name, and where their paths start. */
export interface MachineConfigOptions extends Omit<EventorOptions, 'name'> {
  /** The flow's name; defaults to the config's `meta.eventor.name`. */
  name?: string;
  /** The functions that steps name in `meta.eventor.func`, by name (`implementationsOf(flow)` gives a flow's). */
  implementations?: Record<string, StepFunction>;
  /**
   * The folder that relative `module` paths and `cwd`s are relative to, and that command steps
   * without a `cwd` run in; without it, paths are relative to the current directory.
   */
  baseDir?: string;
}

/** How a machine config file is read: as `fromMachineConfig`, with paths relative to the file. */
export type LoadMachineConfigOptions = Omit<MachineConfigOptions, 'baseDir'>;

type Record_ = Record<string, unknown>;
const isRecord = (value: unknown): value is Record_ => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads the parts of a config, each check naming the entry it refuses. */
class Reader {
  constructor(readonly file: string | undefined) {}

  fail(entry: string, problem: string): never {
    throw new MachineConfigError(entry, problem, this.file);
  }

  record(value: unknown, entry: string, what: string): Record_ {
    if (!isRecord(value)) this.fail(entry, `is ${describe(value)}: expected ${what}`);
    return value;
  }

  optionalRecord(value: unknown, entry: string, what: string): Record_ | undefined {
    return value === undefined ? undefined : this.record(value, entry, what);
  }

  list(value: unknown, entry: string, what: string): unknown[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) this.fail(entry, `is ${describe(value)}: expected a list of ${what}`);
    return value;
  }

  text(value: unknown, entry: string, what = 'a name'): string {
    if (typeof value !== 'string' || value === '') this.fail(entry, `is ${describe(value)}: expected ${what}, a non-empty string`);
    return value;
  }

  optionalText(value: unknown, entry: string, what?: string): string | undefined {
    return value === undefined ? undefined : this.text(value, entry, what);
  }

  expr(value: unknown, entry: string): Expr {
    if (typeof value === 'string' && value !== '') return value;
    const node = this.record(value, entry, "an event name, or { op: 'and' | 'or', items: [...] }");
    if (node.op !== 'and' && node.op !== 'or') this.fail(`${entry}.op`, `is ${describe(node.op)}: expected 'and' or 'or'`);
    return { op: node.op, items: this.list(node.items, `${entry}.items`, 'expressions').map((item, index) => this.expr(item, `${entry}.items[${index}]`)) };
  }

  claims(value: unknown, entry: string): [string, number][] | undefined {
    if (value === undefined) return undefined;
    return this.list(value, entry, '[pool, amount] pairs').map((claim, index) => {
      if (!Array.isArray(claim) || claim.length !== 2 || typeof claim[0] !== 'string' || typeof claim[1] !== 'number') this.fail(`${entry}[${index}]`, `is ${describe(claim)}: expected [pool name, amount]`);
      return [claim[0], claim[1]] as [string, number];
    });
  }
}

/** What a machine config's root `meta.eventor` says, checked. */
interface FlowPart {
  name: string | undefined;
  events: EventSpec[];
  assocs: AssocSpec[];
  triggers: TriggerSpec[];
  pools: PoolSpec[];
  config: RunConfigInput;
  implementations: string | undefined;
}

function readFlow(data: unknown, reader: Reader): { flow: FlowPart; root: Record_ } {
  const root = reader.record(data, '', 'a machine config: an object with type: parallel, states and meta.eventor, as toXStateConfig writes it');
  const meta = isRecord(root.meta) ? root.meta.eventor : undefined;
  if (!isRecord(meta)) reader.fail('meta.eventor', 'is missing: this is not a machine config of an Eventor flow (toXStateConfig writes the flow\'s events, associations and config there)');
  if (meta.format !== MACHINE_CONFIG_FORMAT) reader.fail('meta.eventor.format', `is ${describe(meta.format)}: expected '${MACHINE_CONFIG_FORMAT}'`);
  if (meta.version !== MACHINE_CONFIG_VERSION) reader.fail('meta.eventor.version', `is ${describe(meta.version)}: this Eventor reads version ${MACHINE_CONFIG_VERSION}; export the flow again with this version`);
  if (root.type !== 'parallel') reader.fail('type', `is ${describe(root.type)}: a flow's machine config is a parallel state, one region per step`);
  reader.record(root.states, 'states', 'the regions of the steps, by name');
  const at = (key: string) => `meta.eventor.${key}`;
  const events = reader.list(meta.events, at('events'), 'events').map((item, index): EventSpec => {
    const event = reader.record(item, `${at('events')}[${index}]`, '{ name, expr? }');
    const name = reader.text(event.name, `${at('events')}[${index}].name`);
    return event.expr === undefined ? { name } : { name, expr: reader.expr(event.expr, `${at('events')}[${index}].expr`) };
  });
  const assocs = reader.list(meta.assocs, at('assocs'), 'associations').map((item, index): AssocSpec => {
    const entry = `${at('assocs')}[${index}]`;
    const assoc = reader.record(item, entry, '{ event, targets, delay }');
    const delay = assoc.delay ?? 0;
    if (typeof delay !== 'number') reader.fail(`${entry}.delay`, `is ${describe(delay)}: expected seconds, a number`);
    const targets = reader.list(assoc.targets, `${entry}.targets`, 'targets').map((target, number) => {
      const where = `${entry}.targets[${number}]`;
      const { kind, name } = reader.record(target, where, "{ kind: 'step' | 'event', name }");
      if (kind !== 'step' && kind !== 'event') reader.fail(`${where}.kind`, `is ${describe(kind)}: expected 'step' or 'event'`);
      return { kind: kind as 'step' | 'event', name: reader.text(name, `${where}.name`) };
    });
    return { event: reader.text(assoc.event, `${entry}.event`), targets, delay };
  });
  const triggers = reader.list(meta.triggers, at('triggers'), 'triggers').map((item, index): TriggerSpec => {
    const trigger = reader.record(item, `${at('triggers')}[${index}]`, '{ event, sequence }');
    const { sequence } = trigger;
    if (typeof sequence !== 'string' && typeof sequence !== 'number') reader.fail(`${at('triggers')}[${index}].sequence`, `is ${describe(sequence)}: expected a number or a string`);
    return { event: reader.text(trigger.event, `${at('triggers')}[${index}].event`), sequence: String(sequence) };
  });
  const pools = reader.list(meta.pools, at('pools'), 'resource pools').map((item, index): PoolSpec => {
    const pool = reader.record(item, `${at('pools')}[${index}]`, '{ name, limit, shared? }');
    if (typeof pool.limit !== 'number') reader.fail(`${at('pools')}[${index}].limit`, `is ${describe(pool.limit)}: expected a whole number, 1 or more`);
    return { name: reader.text(pool.name, `${at('pools')}[${index}].name`), limit: pool.limit, ...(pool.shared === undefined ? {} : { shared: pool.shared as boolean }) };
  });
  const config = (reader.optionalRecord(meta.config, at('config'), 'an object of run settings') ?? {}) as RunConfigInput;
  return {
    root,
    flow: { name: reader.optionalText(meta.name, at('name')), events, assocs, triggers, pools, config, implementations: reader.optionalText(meta.implementations, at('implementations'), 'a module path') },
  };
}

/** A region's step as its `meta.eventor` says, before its code is resolved. */
type StepPart = Omit<StepSpec, 'func'> & { func?: string; entry: string };

/** Every step region of the config, in document order: a container before its children. */
function readSteps(root: Record_, reader: Reader): StepPart[] {
  const steps: StepPart[] = [];
  const visit = (states: Record_, path: string, regions: boolean) => {
    for (const [key, value] of Object.entries(states)) {
      const entry = `${path}.${key}`;
      const node = reader.record(value, entry, 'a state node');
      const meta = isRecord(node.meta) ? node.meta.eventor : undefined;
      if (isRecord(meta)) steps.push(readStep(meta, key, `${entry}.meta.eventor`, reader));
      else if (regions) reader.fail(`${entry}.meta.eventor`, "is missing: each region of the root is a step, with its code in meta.eventor ({ func }, { module, export } or { command })");
      if (node.states !== undefined) visit(reader.record(node.states, `${entry}.states`, 'state nodes by name'), `${entry}.states`, false);
    }
  };
  visit(root.states as Record_, 'states', true);
  return steps;
}

function readStep(meta: Record_, key: string, entry: string, reader: Reader): StepPart {
  const at = (name: string) => `${entry}.${name}`;
  const statusMap = (name: 'triggers' | 'reports') => {
    const map = reader.optionalRecord(meta[name], at(name), 'an object from status to events, { success: [done] }');
    if (map === undefined) return undefined;
    return Object.fromEntries(Object.entries(map).map(([status, events]) => [status, reader.list(events, `${at(name)}.${status}`, 'event names').map((event, index) => reader.text(event, `${at(name)}.${status}[${index}]`))]));
  };
  const { command } = meta;
  if (command !== undefined && typeof command !== 'string' && !(Array.isArray(command) && command.every((part) => typeof part === 'string'))) {
    reader.fail(at('command'), `is ${describe(command)}: expected a command line, or a program and its arguments`);
  }
  if (meta.args !== undefined && !Array.isArray(meta.args)) reader.fail(at('args'), `is ${describe(meta.args)}: expected a list of arguments`);
  if (meta.placeholders !== undefined && typeof meta.placeholders !== 'boolean') reader.fail(at('placeholders'), `is ${describe(meta.placeholders)}: expected true or false`);
  const step: StepPart = {
    entry,
    name: reader.optionalText(meta.name, at('name')) ?? unescapeName(key),
    args: (meta.args as unknown[] | undefined) ?? [],
    triggers: statusMap('triggers') ?? {},
    recovery: (reader.optionalRecord(meta.recovery, at('recovery'), "an object from status to replay, { failure: 'rerun' }") ?? {}) as StepSpec['recovery'],
    config: (reader.optionalRecord(meta.config, at('config'), 'an object of step settings, { timeout, retries, ... }') ?? {}) as StepSpec['config'],
  };
  const optional: Partial<StepPart> = {
    func: reader.optionalText(meta.func, at('func'), 'the name of an implementation'),
    module: reader.optionalText(meta.module, at('module'), 'a module path or package'),
    export: reader.optionalText(meta.export, at('export'), 'the name of an exported function'),
    command: command as StepSpec['command'],
    placeholders: meta.placeholders as boolean | undefined,
    cwd: reader.optionalText(meta.cwd, at('cwd'), 'a folder'),
    env: reader.optionalRecord(meta.env, at('env'), 'an object of names to string values') as Record<string, string> | undefined,
    kwargs: reader.optionalRecord(meta.kwargs, at('kwargs'), 'an object, passed as the last argument'),
    reports: statusMap('reports'),
    acquires: reader.claims(meta.acquires, at('acquires')),
    releases: reader.claims(meta.releases, at('releases')),
    hosts: meta.hosts === undefined ? undefined : reader.list(meta.hosts, at('hosts'), 'host names').map((host, index) => reader.text(host, `${at('hosts')}[${index}]`)),
    queue: reader.optionalText(meta.queue, at('queue'), 'a work queue'),
    container: reader.optionalRecord(meta.container, at('container'), 'a container: { repeats, start, done, failed, children, handled }') as StepSpec['container'],
  };
  for (const [name, value] of Object.entries(optional)) if (value !== undefined) (step as unknown as Record_)[name] = value;
  return step;
}

/** A path of the config as the runtime takes it: relative ones start at `baseDir`, packages stay as they are. */
const fromBase = (path: string, baseDir: string) => (path.startsWith('.') && !isAbsolute(path) ? resolve(baseDir, path) : path);

/** A step with its code resolved: an implementation for `func`, paths from `baseDir`. */
function resolveStep(part: StepPart, implementations: Record<string, StepFunction>, baseDir: string | undefined, file: string | undefined): StepSpec {
  const { entry: _entry, func, ...step } = part;
  const resolved: StepSpec = { ...step };
  if (func !== undefined) {
    const implementation = Object.hasOwn(implementations, func) ? implementations[func] : undefined;
    if (typeof implementation !== 'function') throw new UnknownImplementationError(part.name, func, Object.keys(implementations).filter((name) => typeof implementations[name] === 'function'), file);
    resolved.func = implementation;
  }
  // Steps on other hosts keep their paths: they are the agents' (relative to each agent's root).
  if (baseDir !== undefined && step.hosts === undefined && step.queue === undefined) {
    if (step.module !== undefined) resolved.module = fromBase(step.module, baseDir);
    if (step.cwd !== undefined) resolved.cwd = resolve(baseDir, step.cwd);
    else if (step.command !== undefined) resolved.cwd = resolve(baseDir);
  }
  return resolved;
}

/** Run settings of the config under those of the options; logging is merged a level deeper, so that one setting does not drop the others. */
function mergeConfig(fromConfig: RunConfigInput, given: RunConfigInput | undefined): RunConfigInput {
  const merged: RunConfigInput = { ...fromConfig, ...given };
  if (fromConfig.logging !== undefined || given?.logging !== undefined) merged.logging = { ...fromConfig.logging, ...given?.logging };
  return merged;
}

/** The Eventor a checked config stands for. @internal */
function buildEventor(config: unknown, options: MachineConfigOptions, file: string | undefined): Eventor {
  const reader = new Reader(file);
  const { flow, root } = readFlow(config, reader);
  const { implementations = {}, baseDir, name: givenName, config: runConfig, ...eventorOptions } = options;
  if (!isRecord(implementations)) reader.fail('', `got implementations ${describe(implementations)}: give an object of names to functions`);
  const name = givenName ?? flow.name ?? (file ? basename(file).replace(/(\.machine)?\.(json|ya?ml)$/i, '') : 'eventor');
  const steps = readSteps(root, reader).map((part) => resolveStep(part, implementations, baseDir, file));
  const pools = new Map(flow.pools.map((pool) => [pool.name, new ResourcePool(pool.name, { limit: pool.limit, shared: pool.shared })]));
  for (const step of steps) {
    for (const [pool] of [...(step.acquires ?? []), ...(step.releases ?? [])]) {
      if (!pools.has(pool)) reader.fail('meta.eventor.pools', `has no pool '${pool}', which step '${step.name}' acquires or releases: add { name: '${pool}', limit: N } to the pools`);
    }
  }
  const spec: FlowSpec = { name, events: flow.events, steps, assocs: flow.assocs, triggers: flow.triggers, pools: flow.pools, config: resolveRunConfig(mergeConfig(flow.config, runConfig)) };
  // The whole flow is checked before an Eventor (and its store) exists, so that a bad config runs nothing.
  validateFlow(spec);
  const ev = new Eventor({ ...eventorOptions, name, config: mergeConfig(flow.config, runConfig) });
  const events = new Map(flow.events.map((event) => [event.name, ev.addEvent(event.name, event.expr === undefined ? {} : { expr: event.expr })]));
  const stepRefs = new Map(
    steps.map((step) => {
      const { name: stepName, triggers, acquires, releases, ...rest } = step;
      const claims = (list: [string, number][] | undefined) => list?.map(([pool, amount]) => [pools.get(pool) as ResourcePool, amount] as [ResourcePool, number]);
      return [stepName, ev.addStep(stepName, { ...rest, triggers: triggers as Record<string, string[]>, acquires: claims(acquires), releases: claims(releases) })];
    }),
  );
  for (const assoc of flow.assocs) {
    const targets = assoc.targets.map((target) => (target.kind === 'step' ? stepRefs.get(target.name) : events.get(target.name)) ?? target.name);
    ev.addAssoc(events.get(assoc.event) ?? assoc.event, ...targets, { delay: assoc.delay });
  }
  for (const trigger of flow.triggers) ev.triggerEvent(trigger.event, trigger.sequence);
  return ev;
}

/**
 * An Eventor that runs the flow a machine config describes (as `toXStateConfig` writes it), its
 * step code resolved from `implementations` (for `func`), modules (`module` + `export`, relative
 * to `baseDir`) or commands. A config that is not one of ours, or that names an implementation
 * not given, throws before anything runs.
 * @example
 * const ev = fromMachineConfig(config, { implementations: { extract, load }, store: ':memory:' });
 * await ev.run();
 */
export function fromMachineConfig(config: unknown, options: MachineConfigOptions = {}): Eventor {
  return buildEventor(config, options, undefined);
}

let tsxRegistered = false;

/** Lets this process import a TypeScript module of implementations, unless a loader already does. */
async function loadTypeScript(): Promise<void> {
  if (tsxRegistered || process.execArgv.some((arg) => arg.includes('tsx'))) return;
  const { register } = await import('tsx/esm/api');
  register();
  tsxRegistered = true;
}

/** The functions a module exports (and those of an object it exports by default), by name. */
async function importImplementations(module: string, file: string): Promise<Record<string, StepFunction>> {
  const path = resolve(dirname(file), module);
  if (/\.[cm]?tsx?$/.test(path)) await loadTypeScript();
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new MachineConfigError('meta.eventor.implementations', `module ${module} cannot be imported (${(error as Error).message}): give a path relative to the config file`, file, { cause: error });
  }
  const found: Record<string, StepFunction> = {};
  if (isRecord(exports.default)) for (const [name, value] of Object.entries(exports.default)) if (typeof value === 'function') found[name] = value as StepFunction;
  for (const [name, value] of Object.entries(exports)) if (typeof value === 'function') found[name] = value as StepFunction;
  return found;
}

/** The data of a `.json`, `.yaml` or `.yml` file, with the line of a syntax error. */
function readData(path: string, file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new MachineConfigError('', `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): give the path of a .machine.json or .machine.yaml file`, path, { cause: error });
  }
  const extension = extname(file).toLowerCase();
  if (extension === '.json') {
    try {
      return JSON.parse(text);
    } catch (error) {
      const position = /position (\d+)/.exec((error as Error).message);
      const line = position ? text.slice(0, Number(position[1])).split('\n').length : undefined;
      throw new MachineConfigError(line ? `line ${line}` : '', `is not valid JSON: ${(error as Error).message}`, path, { cause: error });
    }
  }
  if (extension === '.yaml' || extension === '.yml') {
    const lines = new LineCounter();
    const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
    if (document.errors.length > 0) {
      const [error] = document.errors;
      throw new MachineConfigError(`line ${lines.linePos(error.pos[0]).line}`, `is not valid YAML: ${error.message.split('\n')[0]}`, path, { cause: error });
    }
    return document.toJS({ maxAliasCount: 1000 });
  }
  throw new MachineConfigError('', `is neither JSON nor YAML: a machine config file ends in .machine.json, .machine.yaml or .machine.yml`, path);
}

/**
 * Reads a machine config file (`.machine.json`, `.machine.yaml`, `.machine.yml`) and builds the
 * Eventor it describes, ready to run. Module paths, `cwd`s and commands are relative to the
 * file. The functions that steps name in `func` come from `options.implementations`, then from
 * the module that the config's `meta.eventor.implementations` names (relative to the file; a
 * TypeScript module is loaded through tsx): its function exports, and the functions of an object
 * it exports by default; the options win over the module.
 * @example
 * const ev = await loadMachineConfig('examples/etl.machine.json', { store: ':memory:' });
 * await ev.run();
 */
export async function loadMachineConfig(path: string, options: LoadMachineConfigOptions = {}): Promise<Eventor> {
  const file = resolve(path);
  const data = readData(path, file);
  const module = isRecord(data) && isRecord(data.meta) && isRecord(data.meta.eventor) ? data.meta.eventor.implementations : undefined;
  const fromModule = typeof module === 'string' && module !== '' ? await importImplementations(module, file) : {};
  try {
    return buildEventor(data, { ...options, implementations: { ...fromModule, ...options.implementations }, baseDir: dirname(file) }, path);
  } catch (error) {
    // Errors of the flow itself (an unknown event, a cycle) name the file, as every error of a flow file does.
    if (error instanceof ValidationError && !(error instanceof MachineConfigError) && !(error instanceof UnknownImplementationError)) {
      throw new MachineConfigError('', error.message, path, { cause: error });
    }
    throw error;
  }
}
