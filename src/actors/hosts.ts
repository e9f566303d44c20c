import type { Expr } from '../model/expr.js';
import type { AssocSpec, EventSpec, FlowSpec, StepSpec } from '../model/spec.js';
import type { StepStatus } from '../model/status.js';

/** The name of the task of `step` on `host`, for a step that runs on several hosts. */
export const hostStepName = (step: string, host: string): string => `${step}@${host}`;

const STATUSES = ['ready', 'active', 'success', 'failure', 'complete'] as const;

/** When the step as a whole enters each status, from its hosts' statuses, as in the seed: it succeeds when every host does. */
function joinOf(status: (typeof STATUSES)[number], each: (host: string, status: StepStatus) => string, hosts: readonly string[]): Expr {
  switch (status) {
    case 'success':
      return { op: 'and', items: hosts.map((host) => each(host, 'success')) };
    case 'complete':
      return { op: 'and', items: hosts.map((host) => ({ op: 'or', items: [each(host, 'success'), each(host, 'failure')] })) };
    default:
      return { op: 'or', items: hosts.map((host) => each(host, status)) };
  }
}

/**
 * A step with several `hosts` becomes one step per host (`name@host`), each pinned to its
 * host: one task per step, sequence and host. The step's own triggers fire from events that
 * join its hosts' statuses: success when every host succeeded, failure when one failed,
 * complete when every host finished, ready and active when the first host got there. A step
 * with one host keeps its name and is pinned to it. Associations to the step reach every host.
 */
export function splitHosts(spec: FlowSpec): FlowSpec {
  if (!spec.steps.some((step) => step.hosts !== undefined)) return spec;
  const steps: StepSpec[] = [];
  const events: EventSpec[] = [...spec.events];
  const assocs: AssocSpec[] = [];
  const split = new Map<string, string[]>();
  for (const step of spec.steps) {
    const { hosts, ...rest } = step;
    if (hosts === undefined) {
      steps.push(step);
      continue;
    }
    if (hosts.length === 1) {
      steps.push({ ...rest, host: hosts[0] });
      continue;
    }
    split.set(step.name, hosts.map((host) => hostStepName(step.name, host)));
    const each = (host: string, status: StepStatus) => `${hostStepName(step.name, host)}:${status}`;
    // A failure on a host counts as handled exactly when the step handles its own.
    const handles = (step.triggers.failure?.length ?? 0) + (step.triggers.complete?.length ?? 0) > 0;
    // Each host reports only the statuses that some trigger of the step joins: an event fired for nothing still costs an actor and a record.
    const joined = new Set<StepStatus>();
    for (const status of STATUSES) {
      if (!step.triggers[status]?.length) continue;
      if (status === 'complete') joined.add('success').add('failure');
      else joined.add(status);
    }
    for (const host of hosts) {
      const triggers: StepSpec['triggers'] = {};
      const reports: StepSpec['reports'] = {};
      for (const status of joined) {
        events.push({ name: each(host, status) });
        (status === 'failure' && handles ? triggers : reports)[status] = [each(host, status)];
      }
      steps.push({ ...rest, name: hostStepName(step.name, host), host, triggers, reports });
    }
    for (const status of STATUSES) {
      const targets = step.triggers[status] ?? [];
      if (targets.length === 0) continue;
      const joined = `${step.name}:${status}`;
      events.push({ name: joined, expr: joinOf(status, each, hosts) });
      assocs.push({ event: joined, targets: targets.map((name) => ({ kind: 'event', name })), delay: 0 });
    }
  }
  for (const assoc of spec.assocs) {
    const targets = assoc.targets.flatMap((target) => (target.kind === 'step' && split.has(target.name) ? (split.get(target.name) as string[]).map((name) => ({ kind: 'step' as const, name })) : [target]));
    assocs.push({ ...assoc, targets });
  }
  return { ...spec, steps, events, assocs };
}
