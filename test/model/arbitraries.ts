// fast-check arbitraries of random flows. Each draws "genes" (small records of numbers and
// choices that shrink well) and decodes them into a flow description: picks are indices into
// what exists so far, so every flow is valid (no unknown names, no expression cycles) whatever
// the numbers.
import fc from 'fast-check';
import type { Expr, RequireStatus, TriggerStatus } from '../../src/index.js';
import { repeatsOf, type EventorFlow, type EventorStep, type FlowConfig, type Requirement, type SequentFlow, type SequentNode, type Work } from './flows.js';

/** fast-check's parameters for `runs` flows, replaying EVENTOR_PROPERTY_SEED (and EVENTOR_PROPERTY_PATH) if given. */
export function propertyParameters(runs: number): fc.Parameters<unknown> {
  const { EVENTOR_PROPERTY_SEED: seed, EVENTOR_PROPERTY_PATH: path } = process.env;
  return { numRuns: runs, includeErrorInReport: true, ...(seed === undefined ? {} : { seed: Number(seed) }), ...(path === undefined ? {} : { path }) };
}

/** True with probability `tenths`/10; shrinks to false. */
const chance = (tenths: number) => fc.integer({ min: 0, max: 9 }).map((n) => n >= 10 - tenths);
const pick = fc.nat({ max: 999 });
const work = fc.constantFrom<Work>(0, 1, 2, 3);
const stopOnException = fc.constantFrom(undefined, undefined, true, false);
const rarely = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });

/** Which sequences a step fails for, as picks among the sequences it can run for. */
type FailsGene = 'never' | 'all' | number[];
const failsGene: fc.Arbitrary<FailsGene> = fc.oneof(
  { weight: 14, arbitrary: fc.constant<FailsGene>('never') },
  { weight: 1, arbitrary: fc.constant<FailsGene>('all') },
  { weight: 2, arbitrary: fc.array(pick, { minLength: 1, maxLength: 2 }) },
);
const decodeFails = (gene: FailsGene, sequences: string[]): string[] | 'all' =>
  gene === 'never' ? [] : gene === 'all' ? 'all' : [...new Set(gene.map((n) => sequences[n % sequences.length]))];

const config: fc.Arbitrary<FlowConfig> = fc.record({
  maxConcurrent: fc.constantFrom(undefined, 0, 1, 2, 4),
  stopOnException,
});

/** An and/or tree over atoms `A`, at most three deep. */
type Tree<A> = A | { op: 'and' | 'or'; items: Tree<A>[] };
function tree<A>(atom: fc.Arbitrary<A>): fc.Arbitrary<Tree<A>> {
  const { node } = fc.letrec<{ node: Tree<A> }>((tie) => ({
    node: fc.oneof(
      { maxDepth: 3, depthSize: 'small' },
      { weight: 2, arbitrary: atom },
      fc.record({ op: fc.constantFrom('and' as const, 'or' as const), items: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    ),
  }));
  return node;
}
const isNode = <A>(item: Tree<A>): item is { op: 'and' | 'or'; items: Tree<A>[] } => typeof item === 'object' && item !== null && 'op' in item;

/** The pool's `n`th most recent item, so that small picks (and shrinking) make chains. */
const recent = <T>(pool: readonly T[], n: number): T => pool[pool.length - 1 - (n % pool.length)];

// -- Eventor flows ----------------------------------------------------------------------------

const TRIGGER_ORDER = ['ready', 'active', 'failure', 'complete', 'success'] as const;

const eventorStepGene = fc.record({
  // Success last, so that its event is the most recent one: the next step's pick 0 makes a chain.
  triggers: fc.record({ ready: chance(1), active: chance(1), failure: chance(3), complete: chance(1), success: chance(8) }),
  entry: fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('event' as const), pick }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('expr' as const), expr: tree(pick) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('relay' as const), pick }) },
  ),
  /** A second event that leads to the step. */
  also: rarely(pick),
  delayed: chance(1),
  fails: failsGene,
  stopOnException,
  maxConcurrent: rarely(fc.integer({ min: 1, max: 2 })),
  work,
});

const eventorFlowGene = fc.record({
  config,
  starts: fc.integer({ min: 1, max: 3 }),
  sequences: fc.integer({ min: 1, max: 3 }),
  triggers: fc.array(fc.tuple(pick, pick), { minLength: 1, maxLength: 5 }),
  steps: fc.array(eventorStepGene, { minLength: 1, maxLength: 60, size: 'medium' }),
  /** Associations from an event to an event, anywhere: they may make cycles. */
  relays: fc.array(fc.tuple(pick, pick), { maxLength: 3 }),
});

/** A delay short enough to keep runs fast, long enough to go through `waiting` and a timer. */
const DELAY = 0.002;

/**
 * Random Eventor flows of up to 60 steps: chains, fan-outs, and/or joins, event → event
 * associations (cycles too), several sequences, failing steps with and without failure
 * triggers, stopOnException per run and per step, maxConcurrent per run and per step, delays
 * of zero and of a few ms. With `stops: false`, no failure stops the run.
 */
export function eventorFlows({ stops = true }: { stops?: boolean } = {}): fc.Arbitrary<EventorFlow> {
  return eventorFlowGene.map((gene) => {
    const sequences = ['1', '2', '3'].slice(0, gene.sequences);
    const events: EventorFlow['events'] = [];
    const pool: string[] = [];
    const assocs: { event: string; target: { kind: 'event' | 'step'; name: string }; delay: number }[] = [];
    const addEvent = (name: string, expr?: Expr) => {
      events.push(expr === undefined ? { name } : { name, expr });
      pool.push(name);
    };
    for (let i = 0; i < gene.starts; i++) addEvent(`start${i}`);
    const steps: EventorStep[] = gene.steps.map((stepGene, i) => {
      const name = `s${i}`;
      let entry: string;
      if (stepGene.entry.kind === 'event') entry = recent(pool, stepGene.entry.pick);
      else if (stepGene.entry.kind === 'relay') {
        entry = `r${i}`;
        assocs.push({ event: recent(pool, stepGene.entry.pick), target: { kind: 'event', name: entry }, delay: 0 });
        addEvent(entry);
      } else {
        const decode = (node: Tree<number>): Expr => (isNode(node) ? { op: node.op, items: node.items.map(decode) } : recent(pool, node));
        entry = `x${i}`;
        addEvent(entry, decode(stepGene.entry.expr));
      }
      assocs.push({ event: entry, target: { kind: 'step', name }, delay: stepGene.delayed ? DELAY : 0 });
      if (stepGene.also !== undefined) assocs.push({ event: recent(pool, stepGene.also), target: { kind: 'step', name }, delay: 0 });
      const triggers: Partial<Record<TriggerStatus, string[]>> = {};
      for (const status of TRIGGER_ORDER) {
        if (!stepGene.triggers[status]) continue;
        triggers[status] = [`${name}_${status}`];
        addEvent(`${name}_${status}`);
      }
      const failsFor = decodeFails(stepGene.fails, sequences);
      const failing = failsFor === 'all' || failsFor.length > 0;
      return {
        name,
        triggers,
        failsFor,
        stopOnException: !stops && failing ? false : stepGene.stopOnException,
        maxConcurrent: stepGene.maxConcurrent,
        work: stepGene.work,
      };
    });
    for (const [from, to] of gene.relays) assocs.push({ event: pool[from % pool.length], target: { kind: 'event', name: pool[to % pool.length] }, delay: 0 });
    // One association per event and delay, with all its targets: a fan-out.
    const merged = new Map<string, EventorFlow['assocs'][number]>();
    for (const { event, target, delay } of assocs) {
      const key = `${event}@${delay}`;
      const assoc = merged.get(key) ?? { event, targets: [], delay };
      if (!assoc.targets.some((known) => known.kind === target.kind && known.name === target.name)) assoc.targets.push(target);
      merged.set(key, assoc);
    }
    const triggers = [...new Set(gene.triggers.map(([start, sequence]) => `start${start % gene.starts}\u0000${sequences[sequence % sequences.length]}`))].map((key) => {
      const [event, sequence] = key.split('\u0000');
      return { event, sequence };
    });
    return { config: gene.config, events, steps, assocs: [...merged.values()], triggers };
  });
}

// -- Sequent flows ----------------------------------------------------------------------------

type RequirementGene = Tree<{ pick: number; status: RequireStatus }>;
const requirementGene: fc.Arbitrary<RequirementGene> = tree(
  fc.record({
    pick,
    status: fc.oneof(
      { weight: 6, arbitrary: fc.constant<RequireStatus>('success') },
      { weight: 2, arbitrary: fc.constant<RequireStatus>('failure') },
      { weight: 2, arbitrary: fc.constant<RequireStatus>('complete') },
      { weight: 1, arbitrary: fc.constantFrom<RequireStatus>('active', 'ready') },
    ),
  }),
);

type NodeGene =
  | { kind: 'leaf'; requires: RequirementGene | undefined; fails: FailsGene; stopOnException: boolean | undefined; maxConcurrent: number | undefined; work: Work }
  | { kind: 'container'; requires: RequirementGene | undefined; repeats: number | string[] | undefined; stopOnException: boolean | undefined; children: NodeGene[] }
  | { kind: 'event'; requires: RequirementGene };

const maybeRequires = fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: requirementGene });

/** Children of a container `depth` levels down; containers nest at most three deep. */
function childrenGene(depth: number): fc.Arbitrary<NodeGene[]> {
  const leaf = fc.record({ kind: fc.constant('leaf' as const), requires: maybeRequires, fails: failsGene, stopOnException, maxConcurrent: rarely(fc.integer({ min: 1, max: 2 })), work });
  const event = fc.record({ kind: fc.constant('event' as const), requires: requirementGene });
  const kinds: fc.WeightedArbitrary<NodeGene>[] = [
    { weight: 5, arbitrary: leaf },
    { weight: 1, arbitrary: event },
  ];
  if (depth < 3) {
    const repeats = fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 3 }), fc.constantFrom<string[]>(['east', 'west'], ['only']));
    kinds.push({ weight: 2, arbitrary: fc.record({ kind: fc.constant('container' as const), requires: maybeRequires, repeats, stopOnException, children: childrenGene(depth + 1) }) });
  }
  return fc.array(fc.oneof(...kinds), { minLength: depth === 0 ? 1 : 0, maxLength: depth === 0 ? 12 : 5, size: 'medium' });
}

/** At most this many tasks in a Sequent run (repeats multiply), and this many steps with code. */
const TASK_BUDGET = 200;
const LEAF_BUDGET = 60;

/**
 * Random Sequent flows: leaves and containers nested up to three deep, repeats by count and by
 * list, requires on earlier siblings (success, failure, complete, active, ready, and/or nested,
 * events), failing leaves, stopOnException per run and per step, maxConcurrent per run and per
 * leaf. Nodes past the budget of tasks are left out. With `stops: false`, no failure stops the
 * run.
 */
export function sequentFlows({ stops = true }: { stops?: boolean } = {}): fc.Arbitrary<SequentFlow> {
  return fc.record({ config, steps: childrenGene(0) }).map((gene) => {
    // A container fails when a child does, so without stops nothing may stop, containers included.
    const stopping = (stopOnException: boolean | undefined) => (stops ? stopOnException : false);
    let tasks = 0;
    let leaves = 0;
    let names = 0;
    /** Decodes siblings that run at each of `sequences`; returns them, within the budget. */
    const decode = (genes: NodeGene[], sequences: string[]): SequentNode[] => {
      const siblings: SequentNode[] = [];
      const requirement = (node: RequirementGene): Requirement | undefined => {
        if (isNode(node)) {
          const items = node.items.map(requirement).filter((item): item is Requirement => item !== undefined);
          return items.length ? { op: node.op, items } : undefined;
        }
        if (siblings.length === 0) return undefined;
        const sibling = recent(siblings, node.pick);
        return sibling.kind === 'event' ? { event: sibling.name } : { step: sibling.name, status: node.status };
      };
      for (const child of genes) {
        const name = `${child.kind === 'event' ? 'e' : child.kind === 'leaf' ? 'a' : 'c'}${names++}`;
        const requires = child.requires === undefined ? undefined : requirement(child.requires);
        if (child.kind === 'event') {
          if (requires !== undefined) siblings.push({ kind: 'event', name, requires });
        } else if (child.kind === 'leaf') {
          if (tasks + sequences.length > TASK_BUDGET || leaves === LEAF_BUDGET) continue;
          tasks += sequences.length;
          leaves++;
          const { fails, stopOnException, maxConcurrent, work } = child;
          siblings.push({ kind: 'leaf', name, requires, failsFor: decodeFails(fails, sequences), stopOnException: stopping(stopOnException), maxConcurrent, work });
        } else {
          if (tasks + sequences.length > TASK_BUDGET) continue;
          tasks += sequences.length;
          const inner = sequences.flatMap((sequence) => repeatsOf(child).map((repeat) => `${sequence}.${repeat}`));
          siblings.push({ kind: 'container', name, requires, repeats: child.repeats, stopOnException: stopping(child.stopOnException), children: decode(child.children, inner) });
        }
      }
      return siblings;
    };
    return { config: gene.config, steps: decode(gene.steps, ['1']) };
  });
}
