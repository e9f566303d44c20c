// A reference interpreter of Sequent flows, for the property tests only. It models Sequent as
// the README states it, not the Eventor flow Sequent compiles to: the compiled containers are
// code (loops over waitForEvent), not data, so a model of the compiled flow would restate that
// code; reading the rules directly also checks the compilation against them. The rules:
// - top-level steps run once, at sequence '1'; a container's children run once per repeat, at
//   `<sequence>.<repeat>`, one repeat after the other, each when the one before succeeded;
// - a child starts with its container's repeat, or once its `requires` hold among its siblings
//   (`complete` is success or failure); a Sequent event fires once its `requires` hold;
// - a repeat fails when a child fails that no sibling handles (by requiring its failure or
//   completion); its container then fails, and its later repeats never run;
// - the run's result counts every unhandled failure, containers included.
import { failsFor, repeatsOf, type FlowConfig, type Requirement, type SequentContainer, type SequentFlow, type SequentLeaf, type SequentNode } from './flows.js';
import { taskKey, type Final, type ModelTask, type Outcome, type RecordAt } from './outcome.js';

/** A step of a Sequent as the runtime names it (its path), with what the checks need to know. */
export interface SequentStepInfo {
  path: string;
  node: SequentLeaf | SequentContainer;
  /** A sibling requires its failure or completion. */
  handled: boolean;
  /** An unhandled failure of it stops the run. */
  stops: boolean;
}

const pathOf = (parent: string, name: string) => (parent ? `${parent}_${name}` : name);

/** The `[step, status]` pairs anywhere in a requirement. */
function pairsIn(requirement: Requirement): { step: string; status: string }[] {
  if ('step' in requirement) return [requirement];
  if ('event' in requirement) return [];
  return requirement.items.flatMap(pairsIn);
}

/** The children whose failure a sibling step or event handles, by requiring it with failure or complete. */
function handledIn(children: SequentNode[]): Set<string> {
  const pairs = children.flatMap((child) => (child.requires === undefined ? [] : pairsIn(child.requires)));
  return new Set(pairs.filter(({ status }) => status === 'failure' || status === 'complete').map(({ step }) => step));
}

/** Every step of the flow by path. */
export function sequentSteps(flow: SequentFlow): Map<string, SequentStepInfo> {
  const steps = new Map<string, SequentStepInfo>();
  const visit = (children: SequentNode[], parent: string, config: FlowConfig) => {
    const handled = handledIn(children);
    for (const node of children) {
      if (node.kind === 'event') continue;
      const path = pathOf(parent, node.name);
      const stops = !handled.has(node.name) && (node.stopOnException ?? config.stopOnException ?? true);
      steps.set(path, { path, node, handled: handled.has(node.name), stops });
      if (node.kind === 'container') visit(node.children, path, config);
    }
  };
  visit(flow.steps, '', flow.config);
  return steps;
}

/** Whether a requirement holds, given the statuses each sibling entered and the sibling events fired. */
function satisfied(requirement: Requirement, entered: (step: string, status: string) => boolean, fired: (event: string) => boolean): boolean {
  if ('step' in requirement) return entered(requirement.step, requirement.status);
  if ('event' in requirement) return fired(requirement.event);
  const parts = requirement.items.map((item) => satisfied(item, entered, fired));
  return requirement.op === 'and' ? parts.every(Boolean) : parts.some(Boolean);
}

/** What a run of the Sequent comes to when nothing stops it; a bound on any run. */
export function modelSequent(flow: SequentFlow): Outcome {
  const tasks = new Map<string, ModelTask>();

  /** Runs one repeat of a container's children (the top's at '1'); true unless it fails. */
  const runRepeat = (children: SequentNode[], parent: string, sequence: string): boolean => {
    const entered = new Map<string, Set<string>>(); // sibling → statuses it entered
    const fired = new Set<string>(); // sibling events
    const isEntered = (step: string, status: string) => entered.get(step)?.has(status) ?? false;
    let changed = true;
    while (changed) {
      changed = false;
      for (const child of children) {
        if (child.kind === 'event') {
          if (!fired.has(child.name) && satisfied(child.requires, isEntered, (event) => fired.has(event))) {
            fired.add(child.name);
            changed = true;
          }
          continue;
        }
        if (entered.has(child.name)) continue;
        if (child.requires !== undefined && !satisfied(child.requires, isEntered, (event) => fired.has(event))) continue;
        const path = pathOf(parent, child.name);
        // A child's outcome does not depend on when it ran, so the order of this loop does not matter.
        const status: Final = child.kind === 'leaf' ? (failsFor(child, sequence) ? 'failure' : 'success') : runContainer(child, path, sequence);
        tasks.set(taskKey(path, sequence), { step: path, sequence, status });
        entered.set(child.name, new Set(['ready', 'active', status, 'complete']));
        changed = true;
      }
    }
    const handled = handledIn(children);
    return !children.some((child) => child.kind !== 'event' && isEntered(child.name, 'failure') && !handled.has(child.name));
  };

  const runContainer = (container: SequentContainer, path: string, sequence: string): Final => {
    for (const repeat of repeatsOf(container)) if (!runRepeat(container.children, path, `${sequence}.${repeat}`)) return 'failure';
    return 'success';
  };

  runRepeat(flow.steps, '', '1');
  const steps = sequentSteps(flow);
  const failed = [...tasks.values()].filter((task) => task.status === 'failure').map((task) => steps.get(task.step) as SequentStepInfo);
  return { tasks, stops: failed.some((step) => step.stops), ok: !failed.some((step) => !step.handled) };
}

/** The last record of a task in the real run; -Infinity if it has none. */
export type LastAt = (step: string, sequence: string) => number;

/**
 * The record after which each task the flow could ever have may first appear in the real run:
 * after its container's task became active, after every record of its container's previous
 * repeat, and after its requirements held, given when the real run's tasks entered their
 * statuses. Tasks not in the map can never exist.
 */
export function sequentEnabledAt(flow: SequentFlow, recordAt: RecordAt, lastAt: LastAt): Map<string, number> {
  const enabled = new Map<string, number>();

  /** Walks one repeat that began after record `begin`; returns the last record of the tasks it could hold, deepest included. */
  const walk = (children: SequentNode[], parent: string, sequence: string, begin: number): number => {
    const byName = new Map(children.map((child) => [child.name, child]));
    const requirementAt = (requirement: Requirement): number => {
      if ('event' in requirement) return requirementAt((byName.get(requirement.event) as SequentNode & { requires: Requirement }).requires);
      if ('step' in requirement) {
        const at = (status: 'ready' | 'active' | Final) => recordAt(pathOf(parent, requirement.step), sequence, status);
        return requirement.status === 'complete' ? Math.min(at('success'), at('failure')) : at(requirement.status);
      }
      const times = requirement.items.map(requirementAt);
      return requirement.op === 'and' ? Math.max(...times) : Math.min(...times);
    };
    let last = -Infinity;
    for (const child of children) {
      if (child.kind === 'event') continue;
      const path = pathOf(parent, child.name);
      enabled.set(taskKey(path, sequence), Math.max(begin, child.requires === undefined ? -1 : requirementAt(child.requires)));
      last = Math.max(last, lastAt(path, sequence));
      if (child.kind !== 'container') continue;
      let repeatBegins = recordAt(path, sequence, 'active');
      for (const repeat of repeatsOf(child)) {
        const repeatEnds = walk(child.children, path, `${sequence}.${repeat}`, repeatBegins);
        last = Math.max(last, repeatEnds);
        repeatBegins = Math.max(repeatBegins, repeatEnds);
      }
    }
    return last;
  };
  walk(flow.steps, '', '1', -1);
  return enabled;
}
