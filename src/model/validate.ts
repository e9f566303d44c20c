import { LOG_LEVELS, resolveRunConfig, type RunConfig, type StepConfig } from './config.js';
import {
  ConfigError,
  DuplicateNameError,
  EmptyExpressionError,
  ExpressionCycleError,
  InvalidDelayError,
  StepCodeError,
  UnknownNameError,
  UnknownStatusError,
} from './errors.js';
import { exprEvents, hasEmptyPart } from './expr.js';
import type { FlowSpec, StepSpec } from './spec.js';
import { RECOVERY_STATUSES, StepReplay, TRIGGER_STATUSES } from './status.js';

const EXECUTORS = ['inline', 'worker', 'process', 'command', 'remote'];

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
  for (const trigger of spec.triggers) knownEvent(trigger.event, 'triggerEvent');
  validateRunConfig(resolveRunConfig(spec.config));
}

function uniqueNames(kind: 'event' | 'step', items: { name: string }[]): Set<string> {
  const names = new Set<string>();
  for (const { name } of items) {
    if (names.has(name)) throw new DuplicateNameError(kind, name);
    names.add(name);
  }
  return names;
}

/** Finds an event whose expression reaches itself, walking expressions depth first. */
function checkExpressionCycles(spec: FlowSpec): void {
  const edges = new Map<string, string[]>();
  for (const event of spec.events) if (event.expr !== undefined) edges.set(event.name, [...exprEvents(event.expr)]);
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (name: string): void => {
    if (onPath.has(name)) throw new ExpressionCycleError([...path.slice(path.indexOf(name)), name]);
    if (done.has(name)) return;
    onPath.add(name);
    path.push(name);
    for (const next of edges.get(name) ?? []) visit(next);
    path.pop();
    onPath.delete(name);
    done.add(name);
  };
  for (const name of edges.keys()) visit(name);
}

function validateStep(step: StepSpec, knownEvent: (name: string, where: string) => void): void {
  const hasModule = step.module !== undefined || step.export !== undefined;
  const kinds = [step.func !== undefined, hasModule, step.command !== undefined].filter(Boolean).length;
  if (kinds === 0) throw new StepCodeError(step.name, 'missing');
  if (kinds > 1) throw new StepCodeError(step.name, 'conflicting');
  if (hasModule && (!step.module || !step.export)) throw new StepCodeError(step.name, 'incomplete');
  if (step.func !== undefined && typeof step.func !== 'function') throw new ConfigError('func', typeof step.func, 'a function', step.name);
  const executor = step.config.executor;
  if (step.func !== undefined && executor !== undefined && executor !== 'inline') {
    throw new ConfigError('executor', executor, `inline for a func: the ${executor} executor runs module + export, since a function cannot cross to another thread or process`, step.name);
  }
  if (step.command !== undefined && executor !== undefined && executor !== 'command' && executor !== 'remote') {
    throw new ConfigError('executor', executor, 'command (or remote) for a command step', step.name);
  }
  if (hasModule && executor === 'command') throw new ConfigError('executor', executor, 'process, worker, inline or remote for module + export', step.name);
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

function checkBoolean(config: object, key: string, owner?: string): void {
  const value = (config as Record<string, unknown>)[key];
  if (value !== undefined && typeof value !== 'boolean') throw new ConfigError(key, value, 'true or false', owner);
}

function validateStepConfig(config: StepConfig, owner: string): void {
  checkBoolean(config, 'stopOnException', owner);
  checkNumber(config, 'maxConcurrent', -Infinity, owner);
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
  checkNumber(config, 'maxConcurrent', -Infinity);
  if (typeof config.envvarPrefix !== 'string') throw new ConfigError('envvarPrefix', config.envvarPrefix, 'a string');
  if (!LOG_LEVELS.includes(config.logging.level)) throw new ConfigError('logging.level', config.logging.level, `one of ${LOG_LEVELS.join(', ')}`);
  checkBoolean(config.logging, 'console');
  checkBoolean(config.logging, 'file');
  if (typeof config.logdir !== 'string' || !config.logdir) throw new ConfigError('logdir', config.logdir, 'a folder');
  checkNumber(config, 'dayToKeepDb', 0);
  checkNumber(config, 'workers', 0);
  checkNumber(config, 'killGrace', 0);
  if (!['process', 'worker', 'inline'].includes(config.executor)) throw new ConfigError('executor', config.executor, 'one of process, worker, inline');
}
