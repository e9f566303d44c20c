import type { StepConfig, RunConfigInput } from './config.js';
import type { Expr } from './expr.js';
import type { StepReplay, StepStatus, TaskStatus } from './status.js';

/** A sequence as it is kept: numbers given by users are turned into their decimal string. */
export type Sequence = string;

/** The code of an inline step: called with `args`, then `kwargs` if given. */
export type StepFunction = (...args: any[]) => unknown;

/** An event: triggered by hand, by a step's triggers, by an association, or by its expression. */
export interface EventSpec {
  name: string;
  expr?: Expr;
}

/** A step: the code to run and what its statuses trigger. */
export interface StepSpec {
  name: string;
  func?: StepFunction;
  module?: string;
  export?: string;
  /** A program and its arguments (no shell), or a line for `/bin/sh -c`. */
  command?: string | string[];
  /** Whether `${sequence}`, `${step}` and `${env.NAME}` in a `command` are replaced for each task (flow files). */
  placeholders?: boolean;
  /** Working directory of a `command` step. */
  cwd?: string;
  /** Environment variables of a `command`, `process` or `worker` step, over the process's own. */
  env?: Record<string, string>;
  args: unknown[];
  kwargs?: Record<string, unknown>;
  /** Events fired, with the task's sequence, when a task enters a status. */
  triggers: Partial<Record<StepStatus, string[]>>;
  /** Events fired like triggers, for a dialect's own wiring: they never count as handling a failure. */
  reports?: Partial<Record<StepStatus, string[]>>;
  recovery: Partial<Record<TaskStatus, StepReplay>>;
  config: StepConfig;
  /** Resources to hold while a task runs: `[pool name, amount]`. */
  acquires?: [string, number][];
  /** Resources to give back when a task ends; defaults to `acquires`, `[]` gives back none. */
  releases?: [string, number][];
  /**
   * Hosts whose agents run the step: one task per host for each sequence, and the step succeeds
   * for a sequence when every host's task does. The runtime makes a step of each host.
   */
  hosts?: string[];
  /** The one host whose agent runs this step (a step of `hosts` split per host, or `hosts` of one). */
  host?: string;
  /** A work queue: each task runs once, on any agent that serves the queue. */
  queue?: string;
  /** A container (Sequent): the runtime itself runs its children's repeats, one after the other; it has no code of its own. */
  container?: ContainerSpec;
}

/**
 * A step whose task runs other steps: for each repeat, one after the other, it fires `start`
 * with the inner sequence `<sequence>.<repeat>` and waits until the repeat is over: `done`
 * fired (every child succeeded), `failed` fired (a child failed that no sibling handles), or
 * nothing is left to do. A repeat fails when a child failed that is not in `handled`.
 */
export interface ContainerSpec {
  repeats: (string | number)[];
  start: string;
  done: string;
  failed: string;
  /** Its direct child steps. */
  children: string[];
  /** The children whose failure a sibling handles by requiring it. */
  handled: string[];
}

/** A resource pool a flow's steps acquire from. */
export interface PoolSpec {
  name: string;
  limit: number;
  /** The limit holds across runs, supervisors and hosts (the holdings are kept in NATS). */
  shared?: boolean;
}

/** Where an association leads: a step gets a task, an event fires. */
export interface TargetSpec {
  kind: 'event' | 'step';
  name: string;
}

/** When `event` fires, after `delay` seconds, each target is triggered with the same sequence. */
export interface AssocSpec {
  event: string;
  targets: TargetSpec[];
  delay: number;
}

/** An event to fire when the run starts. */
export interface TriggerSpec {
  event: string;
  sequence: Sequence;
}

/** A whole flow as plain data: what every dialect compiles to and what validation checks. */
export interface FlowSpec {
  name: string;
  events: EventSpec[];
  steps: StepSpec[];
  assocs: AssocSpec[];
  triggers: TriggerSpec[];
  pools?: PoolSpec[];
  /** Run settings; those left out take their defaults. */
  config: RunConfigInput;
}
