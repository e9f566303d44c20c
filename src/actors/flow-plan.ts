import { resolveRunConfig, type RunConfig } from '../model/config.js';
import { exprEvents } from '../model/expr.js';
import type { AssocSpec, EventSpec, FlowSpec, StepSpec } from '../model/spec.js';
import type { StepStatus, TaskStatus } from '../model/status.js';
import { defaultExecutorKind } from '../executors/executor.js';
import type { ResourcePool } from './resource-pool.js';

/** A step with what the supervisor looks up on every transition worked out once. */
export interface StepPlan {
  readonly spec: StepSpec;
  readonly name: string;
  /** Events to fire on entering each status, `complete` already merged into success and failure. */
  readonly triggers: Readonly<Record<TaskStatus, readonly string[]>>;
  /** A failure is handled when the step has failure or complete triggers. */
  readonly handlesFailure: boolean;
  readonly stopOnException: boolean;
  readonly maxConcurrent: number;
  readonly executor: string;
  /** The step's timeout in ms, if it has one. */
  readonly timeoutMs?: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly retryBackoff: number;
  /** Resources held while a task runs, and those given back when it ends. */
  readonly acquires: readonly (readonly [ResourcePool, number])[];
  readonly releases: readonly (readonly [ResourcePool, number])[];
}

/** A FlowSpec indexed for running: by name, by event, by dependency. */
export interface FlowPlan {
  readonly spec: FlowSpec;
  /** The run settings, defaults filled in. */
  readonly config: RunConfig;
  readonly events: ReadonlyMap<string, EventSpec>;
  readonly steps: ReadonlyMap<string, StepPlan>;
  readonly assocs: ReadonlyMap<string, readonly AssocSpec[]>;
  /** For each event, the expression events that mention it. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
  readonly maxConcurrent: number;
}

/** A limit as configured, with anything below 1 meaning none. */
export function limitOf(value: number | undefined): number {
  return value === undefined || value < 1 ? Infinity : value;
}

/** Indexes a validated FlowSpec. */
export function planFlow(spec: FlowSpec, pools: ReadonlyMap<string, ResourcePool> = new Map()): FlowPlan {
  const claims = (list: [string, number][] | undefined) => (list ?? []).map(([name, amount]) => [pools.get(name) as ResourcePool, amount] as const);
  const config = resolveRunConfig(spec.config);
  const steps = new Map<string, StepPlan>();
  for (const step of spec.steps) {
    const on = (status: StepStatus) => [...(step.triggers[status] ?? []), ...(step.reports?.[status] ?? [])];
    const failure = [...on('failure'), ...on('complete')];
    const handlesFailure = (step.triggers.failure?.length ?? 0) + (step.triggers.complete?.length ?? 0) > 0;
    steps.set(step.name, {
      spec: step,
      name: step.name,
      triggers: {
        waiting: [],
        retrying: [],
        acquiring: [],
        ready: on('ready'),
        active: on('active'),
        success: [...on('success'), ...on('complete')],
        failure,
      },
      handlesFailure,
      stopOnException: step.config.stopOnException ?? config.stopOnException,
      maxConcurrent: limitOf(step.config.maxConcurrent),
      // A step on other hosts goes to its agents, which run it with the executor its code asks for.
      executor: step.host !== undefined || step.queue !== undefined ? 'remote' : defaultExecutorKind(step, config.executor),
      timeoutMs: step.config.timeout === undefined || step.config.timeout <= 0 || step.config.timeout === Infinity ? undefined : step.config.timeout * 1000,
      retries: step.config.retries ?? 0,
      retryDelayMs: (step.config.retryDelay ?? 0) * 1000,
      retryBackoff: step.config.retryBackoff ?? 1,
      acquires: claims(step.acquires),
      releases: claims(step.releases ?? step.acquires),
    });
  }
  const assocs = new Map<string, AssocSpec[]>();
  for (const assoc of spec.assocs) {
    const list = assocs.get(assoc.event) ?? [];
    list.push(assoc);
    assocs.set(assoc.event, list);
  }
  const dependents = new Map<string, string[]>();
  for (const event of spec.events) {
    if (event.expr === undefined) continue;
    for (const source of exprEvents(event.expr)) {
      const list = dependents.get(source) ?? [];
      list.push(event.name);
      dependents.set(source, list);
    }
  }
  const events = new Map(spec.events.map((event) => [event.name, event]));
  return { spec, config, events, steps, assocs, dependents, maxConcurrent: limitOf(config.maxConcurrent) };
}
