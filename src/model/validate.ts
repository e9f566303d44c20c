import { isPlainObject } from './data.js';
import { EXECUTOR_KINDS, LOG_LEVELS, resolveRunConfig, type RunConfig, type StepConfig } from './config.js';
import {
  ConfigError,
  DuplicateNameError,
  EmptyExpressionError,
  ExpressionCycleError,
  InvalidDelayError,
  StepCodeError,
  UnknownNameError,
  UnknownStatusError,
  ValidationError,
} from './errors.js';
import { exprEvents, hasEmptyPart } from './expr.js';
import type { FlowSpec, StepSpec } from './spec.js';
import { RECOVERY_STATUSES, StepReplay, TRIGGER_STATUSES } from './status.js';

const EXECUTORS: readonly string[] = EXECUTOR_KINDS;

/** Checks a FlowSpec before anything runs; throws the first problem as a named ValidationError. */
export function validateFlow(spec: FlowSpec): void {
  const events = uniqueNames('event', spec.events);
  const steps = uniqueNames('step', spec.steps);
  const knownEvent = (name: string, where: string) => {
    if (!events.has(name)) throw new UnknownNameError('event', name, where);
  };

  for (const event of spec.events) {
    if (event.expr === undefined) continue;
    if (hasEmptyPart(event.expr)) throw new EmptyExpressionError(event.name);
    for (const name of exprEvents(event.expr)) knownEvent(name, `the expression of event '${event.name}'`);
  }
  checkExpressionCycles(spec);

  const pools = new Map<string, number>();
  for (const pool of spec.pools ?? []) {
    if (pools.has(pool.name)) throw new DuplicateNameError('resource pool', pool.name);
    pools.set(pool.name, pool.limit);
  }
  for (const step of spec.steps) {
    validateStep(step, knownEvent);
    if (step.container) {
      const { start, done, failed, children, repeats } = step.container;
      for (const event of [start, done, failed]) knownEvent(event, `the container step '${step.name}'`);
      for (const child of children) if (!steps.has(child)) throw new UnknownNameError('step', child, `the children of container step '${step.name}'`);
      if (!Array.isArray(repeats) || repeats.length === 0) throw new ValidationError(`container step '${step.name}' has no repeats: give at least one`);
    }
    for (const [key, claims] of [['acquires', step.acquires], ['releases', step.releases]] as const) {
      for (const claim of claims ?? []) {
        const [name, amount] = Array.isArray(claim) ? claim : [];
        if (typeof name !== 'string' || !pools.has(name)) throw new UnknownNameError('resource pool', String(name), `the ${key} of step '${step.name}'`);
        if (!Number.isInteger(amount) || (amount as number) < 1) throw new ConfigError(`${key} of ${name}`, amount, 'a whole number, 1 or more', step.name);
        if (key === 'acquires' && (amount as number) > (pools.get(name) as number)) {
          throw new ConfigError(`acquires of ${name}`, amount, `at most the pool's limit, ${pools.get(name)}: the step could never start`, step.name);
        }
      }
    }
  }

  for (const assoc of spec.assocs) {
    knownEvent(assoc.event, 'an association');
    if (typeof assoc.delay !== 'number' || !Number.isFinite(assoc.delay) || assoc.delay < 0) {
      throw new InvalidDelayError(assoc.event, assoc.delay);
    }
    for (const target of assoc.targets) {
      const known = target.kind === 'step' ? steps : events;
      if (!known.has(target.name)) throw new UnknownNameError(target.kind, target.name, `the association of event '${assoc.event}'`);
    }
  }
  for (const trigger of spec.triggers) {
    knownEvent(trigger.event, 'triggerEvent');
    checkText(trigger.sequence, `the sequence of triggerEvent('${trigger.event}')`);
  }
  validateRunConfig(resolveRunConfig(spec.config));
}

function uniqueNames(kind: 'event' | 'step', items: { name: string }[]): Set<string> {
  const names = new Set<string>();
  for (const { name } of items) {
    checkText(name, `${kind} name`);
    if (names.has(name)) throw new DuplicateNameError(kind, name);
    names.add(name);
  }
  return names;
}

/** A lone surrogate: half of a character beyond the Basic Multilingual Plane, without its other half. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Refuses a name or sequence that is not a string of well-formed text. Stores and messages keep
 * text as UTF-8, which has no lone surrogates: such a name would come back as another name, and
 * a recovery would not know its own tasks.
 */
function checkText(text: unknown, what: string): void {
  if (typeof text !== 'string') {
    const given = text === null || typeof text === 'object' || typeof text === 'function' ? (text === null ? 'null' : `a ${typeof text}`) : `the ${typeof text} ${String(text)}`;
    throw new ValidationError(`${what} is ${given}, not a string: name it with text`);
  }
  const lone = LONE_SURROGATE.exec(text);
  if (lone) {
    const code = `\\u${lone[0].charCodeAt(0).toString(16)}`;
    throw new ValidationError(`${what} ${JSON.stringify(text)} holds half a character (${code} at ${lone.index}) that cannot be stored: use whole characters`);
  }
}

/**
 * Finds an event whose expression reaches itself, walking expressions depth first with a stack
 * of its own: a chain of thousands of events must not run out of call stack.
 */
function checkExpressionCycles(spec: FlowSpec): void {
  const edges = new Map<string, string[]>();
  for (const event of spec.events) if (event.expr !== undefined) edges.set(event.name, [...exprEvents(event.expr)]);
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const stack: Iterator<string>[] = [];
  const enter = (name: string) => {
    onPath.add(name);
    path.push(name);
    stack.push((edges.get(name) ?? [])[Symbol.iterator]());
  };
  for (const root of edges.keys()) {
    if (done.has(root)) continue;
    enter(root);
    while (stack.length > 0) {
      const next = stack[stack.length - 1].next();
      if (next.done) {
        stack.pop();
        const name = path.pop() as string;
        onPath.delete(name);
        done.add(name);
      } else if (onPath.has(next.value)) {
        throw new ExpressionCycleError([...path.slice(path.indexOf(next.value)), next.value]);
      } else if (!done.has(next.value)) {
        enter(next.value);
      }
    }
  }
}

/**
 * Refuses options of the wrong type before anything reads them (a string where a map of
 * triggers belongs, a number for args), so that each gets an error naming it.
 */
function checkStepShape(step: StepSpec): void {
  const owner = step.name;
  if (!isPlainObject(step.config)) throw new ConfigError('config', step.config, 'an object of step settings, such as { retries: 2 }', owner);
  if (!Array.isArray(step.args)) throw new ConfigError('args', step.args, 'a list of arguments', owner);
  if (step.kwargs !== undefined && !isPlainObject(step.kwargs)) throw new ConfigError('kwargs', step.kwargs, 'an object of named arguments', owner);
  for (const key of ['module', 'export', 'cwd'] as const) {
    if (step[key] !== undefined && typeof step[key] !== 'string') throw new ConfigError(key, step[key], 'a string', owner);
  }
  if (step.env !== undefined && (!isPlainObject(step.env) || Object.values(step.env).some((item) => typeof item !== 'string'))) {
    throw new ConfigError('env', step.env, 'an object of strings, such as { HOME: "/tmp" }', owner);
  }
  for (const key of ['triggers', 'reports'] as const) {
    const map = step[key];
    if (map === undefined && key === 'reports') continue;
    if (!isPlainObject(map)) throw new ConfigError(key, map, 'an object of statuses, each with a list of events, such as { success: [done] }', owner);
    for (const [status, names] of Object.entries(map)) {
      if (names !== undefined && !Array.isArray(names)) throw new ConfigError(`${key}.${status}`, names, 'a list of events', owner);
      for (const name of names ?? []) checkText(name, `an event of the ${status} ${key} of step '${owner}'`);
    }
  }
  if (!isPlainObject(step.recovery)) throw new ConfigError('recovery', step.recovery, "an object of statuses, each with skip or rerun, such as { failure: 'rerun' }", owner);
  const executor: unknown = step.config.executor;
  if (executor !== undefined && !EXECUTORS.includes(executor as string)) throw new ConfigError('executor', executor, `one of ${EXECUTORS.join(', ')}`, owner);
}

/** A step on other hosts: a list of distinct host names or one queue, and code an agent can run from its own files. */
function checkPlacement(step: StepSpec): void {
  const { hosts, queue, host } = step;
  const isName = (value: unknown) => typeof value === 'string' && value.length > 0 && !/\s/.test(value);
  if (hosts !== undefined) {
    if (!Array.isArray(hosts) || hosts.length === 0 || !hosts.every(isName)) throw new ConfigError('hosts', hosts, "a list of agents' host names, such as ['node1', 'node2']", step.name);
    const twice = hosts.find((name, index) => hosts.indexOf(name) !== index);
    if (twice !== undefined) throw new ConfigError('hosts', hosts, `distinct host names: '${twice}' is listed twice`, step.name);
  }
  if (host !== undefined && !isName(host)) throw new ConfigError('host', host, "an agent's host name", step.name);
  if (queue !== undefined && !isName(queue)) throw new ConfigError('queue', queue, 'the name of a work queue that agents serve, such as gpu', step.name);
  const placed = hosts !== undefined || host !== undefined || queue !== undefined;
  if (queue !== undefined && (hosts !== undefined || host !== undefined)) throw new ConfigError('queue', queue, 'either hosts or a queue, not both: a queue task runs on whichever agent serves the queue', step.name);
  if (placed && (step.func !== undefined || step.container !== undefined)) {
    throw new StepCodeError(step.name, 'unimportable', 'runs on other hosts and has a func: a function cannot cross to another host; give it module + export (a file under the agents\' --root) or command');
  }
}

function validateStep(step: StepSpec, knownEvent: (name: string, where: string) => void): void {
  checkStepShape(step);
  const hasModule = step.module !== undefined || step.export !== undefined;
  const kinds = [step.func !== undefined, hasModule, step.command !== undefined, step.container !== undefined].filter(Boolean).length;
  if (kinds === 0) throw new StepCodeError(step.name, 'missing');
  if (kinds > 1) throw new StepCodeError(step.name, 'conflicting');
  if (hasModule && (!step.module || !step.export)) throw new StepCodeError(step.name, 'incomplete');
  if (step.func !== undefined && typeof step.func !== 'function') throw new ConfigError('func', typeof step.func, 'a function', step.name);
  const executor = step.config.executor;
  if (step.func !== undefined && executor !== undefined && executor !== 'inline') {
    throw new ConfigError('executor', executor, `inline for a func: the ${executor} executor runs module + export, since a function cannot cross to another thread or process`, step.name);
  }
  if (step.command !== undefined && executor !== undefined && executor !== 'command') {
    throw new ConfigError('executor', executor, 'command for a command step', step.name);
  }
  if (hasModule && executor === 'command') throw new ConfigError('executor', executor, 'process, worker or inline for module + export', step.name);
  checkPlacement(step);
  if (step.command !== undefined && (Array.isArray(step.command) ? step.command.length === 0 || step.command.some((part) => typeof part !== 'string') : typeof step.command !== 'string' || !step.command.trim())) {
    throw new ConfigError('command', step.command, "a program and its arguments (['prog', 'arg']) or a shell line", step.name);
  }

  for (const [status, names] of [...Object.entries(step.triggers), ...Object.entries(step.reports ?? {})]) {
    if (!(TRIGGER_STATUSES as readonly string[]).includes(status)) throw new UnknownStatusError(step.name, status, TRIGGER_STATUSES, 'triggers');
    for (const name of names ?? []) knownEvent(name, `the ${status} triggers of step '${step.name}'`);
  }
  for (const [status, replay] of Object.entries(step.recovery)) {
    if (!RECOVERY_STATUSES.includes(status as never)) throw new UnknownStatusError(step.name, status, RECOVERY_STATUSES, 'recovery');
    if (!Object.values(StepReplay).includes(replay as StepReplay)) {
      throw new ConfigError(`recovery.${status}`, replay, `one of ${Object.values(StepReplay).join(', ')}`, step.name);
    }
  }
  validateStepConfig(step.config, step.name);
}

function checkNumber(config: object, key: string, min: number, owner?: string): void {
  const value = (config as Record<string, unknown>)[key];
  if (value === undefined) return;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) throw new ConfigError(key, value, min === -Infinity ? 'a number' : `a number, at least ${min}`, owner);
}

/** maxConcurrent counts tasks, so a fraction would let more run than it says. */
function checkLimit(config: { maxConcurrent?: number }, owner?: string): void {
  const value = config.maxConcurrent;
  if (value === undefined || value === Infinity || Number.isInteger(value)) return;
  throw new ConfigError('maxConcurrent', value, 'a whole number of tasks (0 or less: no limit)', owner);
}

/** `prefix` names the object the key is in (`logging.`), so that the error names the whole option. */
function checkBoolean(config: object, key: string, owner?: string, prefix = ''): void {
  const value = (config as Record<string, unknown>)[key];
  if (value !== undefined && typeof value !== 'boolean') throw new ConfigError(`${prefix}${key}`, value, 'true or false', owner);
}

function validateStepConfig(config: StepConfig, owner: string): void {
  checkBoolean(config, 'stopOnException', owner);
  checkLimit(config, owner);
  checkNumber(config, 'timeout', 0, owner);
  checkNumber(config, 'retries', 0, owner);
  checkNumber(config, 'retryDelay', 0, owner);
  checkNumber(config, 'retryBackoff', 1, owner);
  if (config.retries !== undefined && !Number.isInteger(config.retries)) throw new ConfigError('retries', config.retries, 'a whole number, 0 or more', owner);
  if (config.executor !== undefined && !EXECUTORS.includes(config.executor)) {
    throw new ConfigError('executor', config.executor, `one of ${EXECUTORS.join(', ')}`, owner);
  }
}

function validateRunConfig(config: RunConfig): void {
  checkBoolean(config, 'stopOnException');
  checkLimit(config);
  if (typeof config.envvarPrefix !== 'string') throw new ConfigError('envvarPrefix', config.envvarPrefix, 'a string');
  if (!LOG_LEVELS.includes(config.logging.level)) throw new ConfigError('logging.level', config.logging.level, `one of ${LOG_LEVELS.join(', ')}`);
  checkBoolean(config.logging, 'console', undefined, 'logging.');
  checkBoolean(config.logging, 'file', undefined, 'logging.');
  if (typeof config.logdir !== 'string' || !config.logdir) throw new ConfigError('logdir', config.logdir, 'a folder');
  checkNumber(config, 'dayToKeepDb', 0);
  checkNumber(config, 'workers', 0);
  checkNumber(config, 'killGrace', 0);
  checkNumber(config, 'closeGrace', 0);
  if (!['process', 'worker', 'inline'].includes(config.executor)) throw new ConfigError('executor', config.executor, 'one of process, worker, inline');
  if (!['process', 'sync'].includes(config.durability)) throw new ConfigError('durability', config.durability, 'one of process, sync');
}
