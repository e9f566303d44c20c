import { readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import * as validators from './flow-validators.generated.js';
import { Alias, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { RunConfigInput, StepConfig } from '../model/config.js';
import { findInParts } from '../model/data.js';
import { ValidationError } from '../model/errors.js';
import { and, or, type ExprInput } from '../model/expr.js';
import type { RunMode, StepReplay, TaskStatus, TriggerStatus } from '../model/status.js';
import { Eventor } from './eventor.js';
import { Sequent, SequentEvent, SequentStep, type Requirement, type RequireStatus, type Requires } from './sequent.js';

/** A flow file that cannot be read as a flow: the file, the line and the path of the bad entry. */
export class FlowFileError extends ValidationError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly entry: string,
    problem: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${entry ? `${entry}: ` : ''}${problem}`);
  }
}

/** How a flow file is run: what `new Eventor` or `new Sequent` take besides the flow. */
export interface LoadFlowOptions {
  store?: string;
  runMode?: RunMode;
  runId?: string;
  recoveryRun?: number;
  config?: RunConfigInput;
}

type Json = Record<string, unknown>;

interface CodeEntry {
  name: string;
  command?: string | (string | number)[];
  module?: string;
  export?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  cwd?: string;
  env?: Record<string, string | number | boolean>;
  recovery?: Partial<Record<TaskStatus, StepReplay>>;
  config?: StepConfig;
  hosts?: string[];
  queue?: string;
}

interface SequentEntry extends CodeEntry {
  requires?: unknown;
  delay?: number;
  repeats?: number | (string | number)[];
  steps?: SequentEntry[];
  events?: { name: string; requires: unknown }[];
}

/** A validator of schema/flow.schema.json, compiled when the package builds (scripts/compile-flow-schema.mjs). */
type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
const validatorOf = (form: 'eventor' | 'sequent'): Validator => validators[form];

/**
 * Reads a flow written as YAML, in the Eventor form (events, steps, assocs, trigger) or the
 * Sequent form (nested steps with requires and repeats), and builds it. Paths in the file
 * (`./extract.sh`, `module: ./progs.js`) are relative to the file.
 * @example
 * const flow = await loadFlow('examples/etl.yaml');
 * await flow.run();
 */
export function loadFlow(path: string, options: LoadFlowOptions = {}): Eventor | Sequent {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FlowFileError(path, undefined, '', `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): give the path of a .yaml flow`);
  }
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (document.errors.length > 0) {
    const [error] = document.errors;
    // The parser reports running out of stack as an error of its own: say what it means.
    const problem = /call stack/i.test(error.message) ? 'is nested too deeply to read: a flow needs far fewer levels' : `is not valid YAML: ${error.message.split('\n')[0]}`;
    throw new FlowFileError(path, lines.linePos(error.pos[0]).line, '', problem);
  }
  const data = toData(path, document, lines);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new FlowFileError(path, 1, '', 'a flow is a mapping with steps (and, in the Eventor form, events, assocs and trigger)');
  const shapeProblem = cycleOrDepth(data);
  if (shapeProblem) throw new FlowFileError(path, lineOf(document, lines, shapeProblem.entry), shapeProblem.entry, shapeProblem.problem);
  const flow = data as Json;
  const form = 'assocs' in flow || 'trigger' in flow || (Array.isArray(flow.events) && flow.events.some((event) => typeof event === 'object' && event !== null && 'expr' in event)) ? 'eventor' : 'sequent';
  const validate = validatorOf(form);
  if (!validate) throw new Error(`the ${form} flow schema did not compile`);
  if (!validate(flow)) throw schemaError(path, document, lines, validate.errors ?? []);
  const base = dirname(file);
  const name = (flow.name as string | undefined) ?? basename(file, extname(file));
  const config = { ...(flow.config as RunConfigInput | undefined), ...options.config };
  const at: At = (entry, build, { named = true } = {}) => {
    try {
      build();
    } catch (error) {
      if (error instanceof ValidationError && !(error instanceof FlowFileError)) {
        throw new FlowFileError(path, lineOf(document, lines, entry), named ? entry : '', error.message);
      }
      throw error;
    }
  };
  return form === 'eventor' ? eventorFlow(flow, { ...options, name, config }, base, at) : sequentFlow(flow, { ...options, name, config }, base, at);
}

/**
 * How many nodes the aliases of a flow file may stand for, all told (the yaml package counts
 * each use of an anchor by the size of what it copies). A flow of a few hundred steps that share
 * `config: *defaults` stays far below; an alias bomb ("billion laughs") is far above.
 */
const MAX_ALIAS_COUNT = 1000;

/**
 * How deep a flow file's data may nest. No flow needs more; every recursive pass after (the
 * schema, expressions, Mermaid) then stays well inside the call stack.
 */
const MAX_DEPTH = 256;

/** The document as plain data; alias bombs and aliases to no anchor are FlowFileErrors at their line. */
function toData(file: string, document: Document, lines: LineCounter): unknown {
  try {
    return document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    const aliases: Alias[] = [];
    visit(document, { Alias: (_key, node) => void aliases.push(node) });
    const unresolved = aliases.find((alias) => !alias.resolve(document));
    if (unresolved) return aliasError(file, lines, unresolved, `alias *${unresolved.source} names no anchor before it: define &${unresolved.source} first, or fix the name`);
    if (/alias count|resource exhaustion/i.test(message)) {
      const [first] = aliases;
      return aliasError(file, lines, first, `its aliases expand to more than ${MAX_ALIAS_COUNT} nodes (an alias bomb?): write the entries out, or share less through aliases`);
    }
    if (error instanceof RangeError) throw new FlowFileError(file, undefined, '', 'is nested too deeply to read: a flow needs far fewer levels');
    throw new FlowFileError(file, undefined, '', `cannot be read as data: ${message}`);
  }
}

function aliasError(file: string, lines: LineCounter, alias: Alias | undefined, problem: string): never {
  const offset = alias?.range?.[0];
  throw new FlowFileError(file, offset === undefined ? undefined : lines.linePos(offset).line, '', problem);
}

/**
 * The first entry of `data` that holds itself (an alias inside its own anchor makes a cycle, which
 * no flow can mean) or that nests deeper than MAX_DEPTH. Walked with a stack of its own, since
 * recursion is what such data would break.
 */
function cycleOrDepth(data: object): { entry: string; problem: string } | undefined {
  return findInParts(data, '', entriesOf, ({ value, label: entry, cycle, depth }) => {
    if (typeof value !== 'object' || value === null) return undefined;
    if (cycle) return { entry, problem: 'holds itself through a YAML alias: a flow cannot be a cycle; write the entry out instead' };
    if (depth >= MAX_DEPTH) return { entry, problem: `nests deeper than ${MAX_DEPTH} levels: a flow needs far fewer` };
    return 'descend';
  });
}

/** The parts of a mapping or list, each named as an entry path (`steps[2].config`). */
function* entriesOf(value: object, entry: string): Generator<[unknown, string]> {
  const name = (part: string) => (/^\d+$/.test(part) ? `${entry}[${part}]` : entry ? `${entry}.${part}` : part);
  if (value instanceof Map) for (const [key, item] of value) yield [item, name(String(key))];
  else if (value instanceof Set) for (const item of value) yield [item, name(String(item))];
  else for (const [key, item] of Object.entries(value)) yield [item, name(key)];
}

/** The first schema error, placed at its line. */
function schemaError(file: string, document: Document, lines: LineCounter, errors: ErrorObject[]): FlowFileError {
  // The deepest error says the most: a oneOf mismatch higher up only repeats it.
  const error = [...errors].sort((a, b) => b.instancePath.split('/').length - a.instancePath.split('/').length)[0];
  const entry = error ? error.instancePath.split('/').slice(1).reduce((text, part) => (/^\d+$/.test(part) ? `${text}[${part}]` : text ? `${text}.${part}` : part), '') : '';
  const extra = error?.params && 'additionalProperty' in error.params ? ` '${String(error.params.additionalProperty)}'` : error?.params && 'allowedValues' in error.params ? `: ${(error.params.allowedValues as unknown[]).join(', ')}` : '';
  return new FlowFileError(file, lineOf(document, lines, entry), entry, `${error?.message ?? 'does not match the flow schema'}${extra} (see schema/flow.schema.json)`);
}

/** The line of an entry such as `steps[2].command` (or of its nearest ancestor that exists). */
function lineOf(document: Document, lines: LineCounter, entry: string): number | undefined {
  const path = entry.match(/[^.[\]]+/g)?.map((part) => (/^\d+$/.test(part) ? Number(part) : part)) ?? [];
  for (let length = path.length; length >= 0; length--) {
    const node = document.getIn(path.slice(0, length), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

/**
 * The code options of a step entry, with paths made relative to the flow file; a step on other
 * hosts keeps its paths as written, since each agent resolves them under its own root.
 */
function codeOf(entry: CodeEntry, base: string) {
  const remote = entry.hosts !== undefined || entry.queue !== undefined;
  const local = (path: string) => (path.startsWith('.') && !remote ? resolve(base, path) : path);
  const command = Array.isArray(entry.command) ? entry.command.map(String) : entry.command;
  return {
    command,
    module: entry.module === undefined ? undefined : isAbsolute(entry.module) ? entry.module : local(entry.module),
    export: entry.export,
    args: entry.args,
    kwargs: entry.kwargs,
    cwd: remote ? entry.cwd : entry.cwd === undefined ? (command !== undefined ? base : undefined) : resolve(base, entry.cwd),
    ...(entry.hosts !== undefined ? { hosts: entry.hosts } : {}),
    ...(entry.queue !== undefined ? { queue: entry.queue } : {}),
    env: entry.env === undefined ? undefined : Object.fromEntries(Object.entries(entry.env).map(([key, value]) => [key, String(value)])),
    recovery: entry.recovery,
    config: entry.config,
    placeholders: command !== undefined,
  };
}

/** A YAML expression (a name, a list for and, { or } / { and }) as an Eventor expression. */
function exprOf(value: unknown): ExprInput {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(exprOf);
  const node = value as { or?: unknown[]; and?: unknown[] };
  return node.or ? or(...node.or.map(exprOf)) : and(...(node.and ?? []).map(exprOf));
}

/** Builds one entry; a ValidationError it throws becomes a FlowFileError at the entry's line (naming the entry unless the message does). */
type At = (entry: string, build: () => void, options?: { named?: boolean }) => void;

/**
 * Names in an Eventor-form file that nothing in the file defines, reported at the entry's line in
 * the file's own terms (what to add under events or steps), before the API would name them in its own.
 */
function checkNames(flow: Json, at: At): void {
  const events = new Set(((flow.events as { name: string }[] | undefined) ?? []).map((event) => event.name));
  const steps = new Set(((flow.steps as { name: string }[] | undefined) ?? []).map((step) => step.name));
  const missing = (what: string, fix: string) => new ValidationError(`${what}: ${fix}, or fix the name`);
  const addEvent = (name: string) => `add "- name: ${name}" under events`;
  (flow.steps as { triggers?: Record<string, string[]> }[]).forEach((step, i) => {
    for (const [status, names] of Object.entries(step.triggers ?? {})) {
      for (const name of names ?? []) if (!events.has(name)) at(`steps[${i}]`, () => { throw missing(`triggers.${status} names event '${name}', which this file does not define`, addEvent(name)); }, { named: true });
    }
  });
  ((flow.assocs as { event: string; targets: string[] }[] | undefined) ?? []).forEach((assoc, i) => {
    if (!events.has(assoc.event)) at(`assocs[${i}]`, () => { throw missing(`event '${assoc.event}' is not defined in this file`, addEvent(assoc.event)); }, { named: true });
    for (const target of assoc.targets) if (!events.has(target) && !steps.has(target)) at(`assocs[${i}]`, () => { throw missing(`target '${target}' is neither a step nor an event of this file`, `${addEvent(target)}, or add a step of that name under steps`); }, { named: true });
  });
  ((flow.trigger as { event: string }[] | undefined) ?? []).forEach((trigger, i) => {
    if (!events.has(trigger.event)) at(`trigger[${i}]`, () => { throw missing(`event '${trigger.event}' is not defined in this file`, addEvent(trigger.event)); }, { named: true });
  });
}

function eventorFlow(flow: Json, options: LoadFlowOptions & { name: string }, base: string, at: At): Eventor {
  checkNames(flow, at);
  const ev = new Eventor(options);
  (flow.events as { name: string; expr?: unknown }[] | undefined)?.forEach((event, i) => at(`events[${i}]`, () => ev.addEvent(event.name, event.expr === undefined ? {} : { expr: exprOf(event.expr) })));
  (flow.steps as (CodeEntry & { triggers?: Partial<Record<TriggerStatus, string[]>> })[]).forEach((step, i) =>
    at(`steps[${i}]`, () => ev.addStep(step.name, { ...codeOf(step, base), triggers: step.triggers })),
  );
  (flow.assocs as { event: string; targets: string[]; delay?: number }[] | undefined)?.forEach((assoc, i) =>
    at(`assocs[${i}]`, () => ev.addAssoc(assoc.event, ...assoc.targets, { delay: assoc.delay ?? 0 })),
  );
  (flow.trigger as { event: string; sequence?: string | number }[] | undefined)?.forEach((trigger, i) => at(`trigger[${i}]`, () => ev.triggerEvent(trigger.event, trigger.sequence)));
  return ev;
}

function sequentFlow(flow: Json, options: LoadFlowOptions & { name: string }, base: string, at: At): Sequent {
  const sequent = new Sequent(options);
  addChildren(sequent, flow.steps as SequentEntry[], (flow.events as SequentEntry['events']) ?? [], base, at, '');
  return sequent;
}

/**
 * Adds a container's steps and events. Requirements name siblings, which may come later in
 * the file, so entries are added once everything they require exists.
 */
function addChildren(container: Sequent | SequentStep, steps: SequentEntry[], events: NonNullable<SequentEntry['events']>, base: string, at: At, prefix: string): void {
  type Pending = { entry: string; name: string; requires?: unknown; add: (requires: Requires | undefined) => SequentStep | SequentEvent; step?: SequentEntry };
  const pending: Pending[] = [
    ...steps.map((step, i): Pending => ({
      entry: `${prefix}steps[${i}]`,
      name: step.name,
      requires: step.requires,
      step,
      add: (requires) => {
        const isContainer = step.steps !== undefined || step.repeats !== undefined;
        return container.addStep(step.name, isContainer ? { repeats: step.repeats, requires, delay: step.delay, recovery: step.recovery, config: step.config } : { ...codeOf(step, base), requires, delay: step.delay });
      },
    })),
    ...events.map((event, i): Pending => ({ entry: `${prefix}events[${i}]`, name: event.name, requires: event.requires, add: (requires) => container.addEvent(event.name, { requires: requires as Requires }) })),
  ];
  const made = new Map<string, SequentStep | SequentEvent>();
  const names = (requires: unknown): string[] => {
    if (typeof requires === 'string') return [requires];
    if (Array.isArray(requires)) return requires.length === 2 && typeof requires[0] === 'string' && typeof requires[1] === 'string' && !made.has(requires[1]) && isStatus(requires[1]) ? [requires[0]] : requires.flatMap(names);
    if (requires && typeof requires === 'object' && 'or' in requires) return names((requires as { or: unknown }).or);
    return [];
  };
  while (pending.length > 0) {
    const index = pending.findIndex((item) => names(item.requires).every((name) => made.has(name)));
    if (index === -1) {
      const stuck = pending[0];
      const missing = names(stuck.requires).filter((name) => !made.has(name));
      const known = new Set(pending.map((item) => item.name));
      const problem = `${stuck.entry} (${stuck.name}) requires ${missing.map((name) => `'${name}'`).join(', ')}, ${missing.every((name) => known.has(name)) ? 'and the requirements go round in a cycle' : 'which is not a step or event of the same container'}`;
      const refuse = () => {
        throw new ValidationError(problem);
      };
      // at() throws it again as a FlowFileError at the entry's line; the second throw only tells the compiler.
      at(stuck.entry, refuse, { named: false });
      refuse();
    }
    const [item] = pending.splice(index, 1);
    at(item.entry, () => {
      const node = item.add(item.requires === undefined ? undefined : requirementOf(item.requires, made));
      made.set(item.name, node);
      if (item.step?.steps && node instanceof SequentStep) addChildren(node, item.step.steps, item.step.events ?? [], base, at, `${item.entry}.`);
    });
  }
}

const STATUSES = ['success', 'failure', 'complete', 'active', 'ready'];
const isStatus = (value: string): value is RequireStatus => STATUSES.includes(value);

/** A YAML requirement (`[step, status]`, an event name, `{ or: [...] }`, a list) with names made into nodes. */
function requirementOf(value: unknown, made: Map<string, SequentStep | SequentEvent>): Requires {
  const one = (item: unknown): unknown => {
    if (typeof item === 'string') {
      const node = made.get(item);
      // A bare name requires an event; a step is required with the status it must reach.
      if (node instanceof SequentStep) throw new ValidationError(`requires step '${item}' by its name alone: require a step with the status it must reach, [${item}, success], or name an event`);
      return node as SequentEvent;
    }
    if (Array.isArray(item) && item.length === 2 && typeof item[1] === 'string' && isStatus(item[1]) && typeof item[0] === 'string') return [made.get(item[0]) as SequentStep, item[1]];
    if (item && typeof item === 'object' && 'or' in item) return { op: 'or', items: (item as { or: unknown[] }).or.map(one) };
    return item as Requirement;
  };
  if (value && typeof value === 'object' && !Array.isArray(value)) return one(value) as Requires;
  return (value as unknown[]).map(one) as Requires;
}
