import { createHash } from 'node:crypto';
import { formatExpr } from './expr.js';
import type { FlowSpec } from './spec.js';

/**
 * A hash of what makes a flow the same flow for recovery: its events and their expressions,
 * its steps, what they trigger, and the associations. Arguments and code are left out, so a
 * recovery may fix the input that made a step fail (the seed's `sqrt(-9)`).
 */
export function fingerprintFlow(spec: FlowSpec): string {
  const shape = {
    events: spec.events.map((event) => [event.name, event.expr === undefined ? '' : formatExpr(event.expr)]).sort(),
    steps: spec.steps.map((step) => [step.name, Object.entries(step.triggers).map(([status, events]) => `${status}:${(events ?? []).join(',')}`).sort()]).sort(),
    assocs: spec.assocs.map((assoc) => `${assoc.event}>${assoc.targets.map((target) => `${target.kind}:${target.name}`).join(',')}@${assoc.delay}`).sort(),
  };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
}
