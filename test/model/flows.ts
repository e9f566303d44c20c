// Random flows as plain data, and the real Eventor or Sequent each one stands for. The property
// tests generate these descriptions (arbitraries.ts), build them here, run them, and hand the
// same data to the models; the crash property writes one to JSON for a child process to build.
import { setImmediate as macrotask } from 'node:timers/promises';
import { currentStep, Eventor, or, Sequent, type EventorOptions, type EventRef, type Expr, type RequireStatus, type SequentEvent, type SequentStep, type TriggerStatus } from '../../src/index.js';
import type { Requirement as SequentRequirement, Requires } from '../../src/index.js';

/** How a step's code spends its time, so that tasks interleave: 0 returns at once, 1 awaits a microtask, 2 and 3 wait that many turns of the event loop. */
export type Work = 0 | 1 | 2 | 3;

/** Run settings a generated flow varies. */
export interface FlowConfig {
  maxConcurrent?: number;
  stopOnException?: boolean;
}

/** What every step of code has: whether it fails, how it stops the run, how long it takes. */
export interface CodeStep {
  name: string;
  /** Sequences for which the step throws, or 'all'. */
  failsFor: string[] | 'all';
  stopOnException?: boolean;
  maxConcurrent?: number;
  work: Work;
}

/** A step of an Eventor flow: its code and the events its statuses trigger. */
export interface EventorStep extends CodeStep {
  triggers: Partial<Record<TriggerStatus, string[]>>;
}

/** An Eventor flow as data: the same shape as a FlowSpec, with steps that say whether they fail. */
export interface EventorFlow {
  config: FlowConfig;
  events: { name: string; expr?: Expr }[];
  steps: EventorStep[];
  assocs: { event: string; targets: { kind: 'event' | 'step'; name: string }[]; delay: number }[];
  triggers: { event: string; sequence: string }[];
}

/** What a Sequent step or event requires of its siblings: and/or of `[step, status]` pairs and events. */
export type Requirement = { op: 'and' | 'or'; items: Requirement[] } | { step: string; status: RequireStatus } | { event: string };

/** A step of a Sequent that runs code. */
export interface SequentLeaf extends CodeStep {
  kind: 'leaf';
  requires?: Requirement;
}

/** A container: its children run once per repeat (no repeats: once, as repeat '1'). */
export interface SequentContainer {
  kind: 'container';
  name: string;
  requires?: Requirement;
  repeats?: number | string[];
  stopOnException?: boolean;
  children: SequentNode[];
}

/** An event of a Sequent container, for its siblings to require. */
export interface SequentEventNode {
  kind: 'event';
  name: string;
  requires: Requirement;
}

/** A child of a Sequent container (or of the top). */
export type SequentNode = SequentLeaf | SequentContainer | SequentEventNode;

/** A Sequent flow as data: the top's children run once, at sequence '1'. */
export interface SequentFlow {
  config: FlowConfig;
  steps: SequentNode[];
}

/** Whether a step of code throws for a sequence. */
export function failsFor(step: CodeStep, sequence: string): boolean {
  return step.failsFor === 'all' || step.failsFor.includes(sequence);
}

/** The repeats of a container as Sequent counts them: a count N is 1 to N, none is '1'. */
export function repeatsOf(container: Pick<SequentContainer, 'repeats'>): string[] {
  const { repeats } = container;
  if (repeats === undefined) return ['1'];
  return typeof repeats === 'number' ? Array.from({ length: repeats }, (_, i) => String(i + 1)) : repeats;
}

/** Called as each task's code starts, before it works: `step/sequence`. */
export type OnRun = (step: string, sequence: string) => void;

/** The code of a generated step: notes that it ran, works, then throws where its description says. */
function codeOf(step: CodeStep, onRun: OnRun): () => unknown {
  return async () => {
    const { name, sequence } = currentStep();
    onRun(name, sequence);
    if (step.work === 1) await null;
    for (let turn = 1; turn < step.work; turn++) await macrotask();
    if (failsFor(step, sequence)) throw new Error(`${name} fails for ${sequence}`);
    return `${name}/${sequence}`;
  };
}

/** Eventor options with the flow's run settings (unset ones given as undefined, as a user forwarding options would) and no console output. */
function optionsOf(config: FlowConfig, options: EventorOptions): EventorOptions {
  return { ...options, config: { ...options.config, ...config, logging: { console: false } } };
}

/** The Eventor a flow description stands for, its first events triggered. */
export function buildEventor(flow: EventorFlow, options: EventorOptions, onRun: OnRun = () => {}): Eventor {
  const ev = new Eventor(optionsOf(flow.config, options));
  const events = new Map<string, EventRef>();
  for (const { name, expr } of flow.events) events.set(name, ev.addEvent(name, expr === undefined ? {} : { expr: asInput(expr, true) }));
  for (const step of flow.steps) {
    const config = { stopOnException: step.stopOnException, maxConcurrent: step.maxConcurrent };
    ev.addStep(step.name, { func: codeOf(step, onRun), triggers: step.triggers, config });
  }
  for (const { event, targets, delay } of flow.assocs) {
    // A bare name means the step of that name if there is one, so events go by reference.
    ev.addAssoc(event, ...targets.map((target) => (target.kind === 'step' ? target.name : (events.get(target.name) as EventRef))), { delay });
  }
  for (const { event, sequence } of flow.triggers) ev.triggerEvent(event, sequence);
  return ev;
}

/** An expression as users write it: `and` at the top as an array, nested as and(...) data, `or` as or(...). */
function asInput(expr: Expr, top: boolean): Expr | Expr[] {
  if (typeof expr === 'string') return expr;
  const items = expr.items.map((item) => asInput(item, false)) as Expr[];
  return expr.op === 'and' && top ? items : { op: expr.op, items };
}

/** The Sequent a flow description stands for. */
export function buildSequent(flow: SequentFlow, options: EventorOptions, onRun: OnRun = () => {}): Sequent {
  const sequent = new Sequent(optionsOf(flow.config, options));
  addChildren(sequent, flow.steps, onRun);
  return sequent;
}

type Parent = Pick<Sequent, 'addStep' | 'addEvent'>;

function addChildren(parent: Parent, children: SequentNode[], onRun: OnRun): void {
  const refs = new Map<string, SequentStep | SequentEvent>();
  const requires = (requirement: Requirement | undefined) => (requirement === undefined ? undefined : requiresOf(requirement, refs));
  for (const child of children) {
    if (child.kind === 'event') refs.set(child.name, parent.addEvent(child.name, { requires: requiresOf(child.requires, refs) }));
    else if (child.kind === 'leaf') {
      const config = { stopOnException: child.stopOnException, maxConcurrent: child.maxConcurrent };
      refs.set(child.name, parent.addStep(child.name, { func: codeOf(child, onRun), requires: requires(child.requires), config }));
    } else {
      const container = parent.addStep(child.name, { repeats: child.repeats, requires: requires(child.requires), config: { stopOnException: child.stopOnException } });
      refs.set(child.name, container);
      addChildren(container, child.children, onRun);
    }
  }
}

/** A requirement as Sequent takes it: a list means and, or(...) nests. */
function requiresOf(requirement: Requirement, refs: ReadonlyMap<string, SequentStep | SequentEvent>): Requires {
  const convert = (item: Requirement): SequentRequirement | Requires => {
    if ('step' in item) return [refs.get(item.step) as SequentStep, item.status];
    if ('event' in item) return refs.get(item.event) as SequentEvent;
    const items = item.items.map(convert) as SequentRequirement[];
    return item.op === 'and' ? items : or<SequentRequirement>(...items);
  };
  const converted = convert(requirement);
  return 'op' in requirement ? (converted as Requires) : [converted as SequentRequirement];
}
