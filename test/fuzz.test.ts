// Fuzz suite: random and mutated input at the doors Eventor opens to the world (flow files,
// configuration objects, stored records). Each must come out as a flow, an acceptance or a named
// EventorError: never a TypeError, RangeError or ReferenceError, never a hang, never a changed
// store. Seeded, so a failure reproduces: EVENTOR_FUZZ_SEED sets the seed (fast-check prints the
// seed and path of a failure), EVENTOR_FUZZ_RUNS the number of cases of every property (each has
// a default of its own, a few hundred cheap cases in all). Nothing fuzzed is ever executed: flow
// files are loaded and validated, never run, and the flows that do run have inline steps of ours.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import fc from 'fast-check';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  ConfigError,
  Eventor,
  EventorError,
  FlowFileError,
  loadFlow,
  RunMode,
  Sequent,
  StepStatus,
  StoreError,
  StoreFormatError,
  validateFlow,
  ValidationError,
} from '../src/index.js';
import { decode, encode } from '../src/store/codec.js';
import { LevelStore } from '../src/store/level-store.js';

const SEED = Number(process.env.EVENTOR_FUZZ_SEED ?? 8_2024);
const RUNS = process.env.EVENTOR_FUZZ_RUNS ? Number(process.env.EVENTOR_FUZZ_RUNS) : undefined;
/** fast-check's parameters for a property with `cases` cases unless EVENTOR_FUZZ_RUNS says otherwise. */
const params = (cases: number) => ({ seed: SEED, numRuns: RUNS ?? cases, includeErrorInReport: true });
/** A case slower than this counts as a hang (an alias bomb expanding, a loop that never ends). */
const SLOW_MS = 3_000;
const LIMIT = { timeout: 120_000 } as const;

const root = fileURLToPath(new URL('..', import.meta.url));

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Fails unless `error` is a named Eventor error; the message shows what went in. */
function assertNamed(error: unknown, input: () => string, expected: abstract new (...args: never[]) => EventorError = EventorError): void {
  if (error instanceof expected) return;
  assert.fail(`expected a ${expected.name}, got ${(error as Error)?.stack ?? String(error)}\nfor input: ${input()}`);
}

/** A short text form of a fuzzed value for failure messages. */
function show(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? `${item}n` : typeof item === 'function' ? '<function>' : typeof item === 'symbol' ? String(item) : item instanceof Map ? { map: [...item] } : item));
    return text === undefined ? String(value) : text.length > 2_000 ? `${text.slice(0, 2_000)}…` : text;
  } catch {
    return String(value);
  }
}

// -- flow files ---------------------------------------------------------------------------------

/** Valid flows to mutate: the examples and the fuzz fixtures, every key of the schema among them. */
const SEEDS: { name: string; data: unknown }[] = [
  ...readdirSync(join(root, 'examples')).filter((name) => name.endsWith('.yaml')).map((name) => join(root, 'examples', name)),
  ...readdirSync(join(root, 'test/fixtures/fuzz-flows')).map((name) => join(root, 'test/fixtures/fuzz-flows', name)),
].map((path) => ({ name: path.slice(root.length), data: parseYaml(readFileSync(path, 'utf8')) as unknown }));

/** Keys a flow file may hold, and a few that are dangerous in JavaScript objects. */
const KEYS = [
  'name', 'steps', 'events', 'assocs', 'trigger', 'config', 'command', 'module', 'export', 'args', 'kwargs', 'cwd', 'env',
  'recovery', 'requires', 'delay', 'repeats', 'triggers', 'expr', 'or', 'and', 'event', 'targets', 'sequence',
  'maxConcurrent', 'stopOnException', 'timeout', 'retries', 'retryDelay', 'retryBackoff', 'executor', 'logging', 'level',
  'console', 'file', 'logdir', 'dayToKeepDb', 'workers', 'killGrace', 'success', 'failure', 'complete', 'active', 'ready',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '',
];

/** Values a mutation puts in: names the flows use, statuses, numbers at the edges, odd text. */
const scalar = fc.oneof(
  fc.constantFrom(
    null, true, false, 0, -1, 1.5, 2 ** 31, -0, 1e308, NaN, Infinity, -Infinity, '', ' ', 'a', 's1', 'start', 'A1', 'B', 'loop',
    'success', 'failure', 'complete', 'skip', 'rerun', 'inline', 'worker', 'process', 'command', 'remote', 'debug', 'has space',
    'with:colon', '𝔡', '🚀', '\u0000', '${sequence}', '${env.HOME}', '../../etc', '/', '-', '~', '.nan', 'yes', 'no', 'null',
  ),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 12 }),
);
const value: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 4 })),
})).value;

type Op = 'delete' | 'duplicate' | 'swap' | 'rename' | 'replace' | 'retype' | 'wrap' | 'nest' | 'alias' | 'cycle';
interface Mutation {
  op: Op;
  at: number;
  key: string;
  value: unknown;
  depth: number;
  other: number;
}
const mutation: fc.Arbitrary<Mutation> = fc.record({
  // Deleting, duplicating and swapping entries keep a flow within the schema more often than not,
  // so that the cases reach building and validation; the rest mostly test the schema and the reader.
  op: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom<Op>('delete', 'duplicate', 'swap') },
    { weight: 2, arbitrary: fc.constantFrom<Op>('rename', 'replace', 'retype', 'wrap', 'nest', 'alias', 'cycle') },
  ),
  at: fc.nat(),
  key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 })),
  value,
  // Shallow, or around the loader's depth limit (256).
  depth: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 20 }) }, fc.integer({ min: 240, max: 300 })),
  other: fc.nat(),
});

interface Slot {
  parent: Record<string, unknown> | unknown[];
  key: string | number;
}

/** Every place in `data` that holds a value, in a fixed order (walked without recursion). */
function slotsOf(data: unknown): Slot[] {
  const slots: Slot[] = [];
  const seen = new Set<unknown>();
  const stack: unknown[] = [data];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null || seen.has(node)) continue;
    seen.add(node);
    const parent = node as Record<string, unknown> | unknown[];
    for (const key of Array.isArray(parent) ? parent.keys() : Object.keys(parent)) {
      slots.push({ parent, key });
      stack.push((parent as Record<string | number, unknown>)[key]);
    }
  }
  return slots;
}

/** Sets an own property, even `__proto__`, as the YAML loader would. */
function put(parent: Slot['parent'], key: string | number, item: unknown): void {
  Object.defineProperty(parent, key, { value: item, enumerable: true, writable: true, configurable: true });
}

function retype(item: unknown): unknown {
  if (typeof item === 'string') return Number.isNaN(Number(item)) ? [item] : Number(item);
  if (typeof item === 'number') return String(item);
  if (typeof item === 'boolean') return item ? 'true' : 0;
  if (Array.isArray(item)) return { ...item };
  if (item && typeof item === 'object') return Object.values(item);
  return {};
}

function nest(item: unknown, depth: number, asMap: boolean): unknown {
  let nested = item;
  for (let i = 0; i < depth; i++) nested = asMap ? { or: [nested] } : [nested];
  return nested;
}

/** A seed flow with the mutations applied, in order, each at a slot picked by its number. */
function mutate(seed: unknown, mutations: Mutation[]): unknown {
  const data = { root: structuredClone(seed) };
  for (const change of mutations) {
    const slots = slotsOf(data);
    if (slots.length === 0) break;
    const slot = slots[change.at % slots.length];
    const { parent, key } = slot;
    const current = (parent as Record<string | number, unknown>)[key];
    const other = slots[change.other % slots.length];
    switch (change.op) {
      case 'delete':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key as string];
        break;
      case 'duplicate':
        if (Array.isArray(parent)) parent.push(structuredClone(current));
        else put(parent, change.key, structuredClone(current));
        break;
      case 'swap':
        // Another entry's value here: a name where another name was, a requirement of another step.
        put(parent, key, structuredClone((other.parent as Record<string | number, unknown>)[other.key]));
        break;
      case 'rename':
        if (Array.isArray(parent)) break;
        delete parent[key as string];
        put(parent, change.key, current);
        break;
      case 'replace':
        put(parent, key, structuredClone(change.value));
        break;
      case 'retype':
        put(parent, key, retype(current));
        break;
      case 'wrap':
        put(parent, key, change.depth % 2 ? [current] : { [change.key]: current });
        break;
      case 'nest':
        put(parent, key, nest(current, change.depth, change.other % 2 === 1));
        break;
      case 'alias':
        // The same object twice: the YAML writer makes it an anchor and an alias.
        put(parent, key, (other.parent as Record<string | number, unknown>)[other.key]);
        break;
      case 'cycle':
        // An entry that holds its own parent: the YAML writer makes an alias inside its anchor.
        if (typeof current === 'object' && current !== null) put(current as Slot['parent'], Array.isArray(current) ? current.length : change.key, parent);
        else put(parent, key, parent);
        break;
    }
  }
  return data.root;
}

/** Pieces of YAML syntax that edits of the text put in: anchors, aliases, tags, indicators. */
const PIECES = [
  '&a ', '*a', '*b ', '&b [*a, *a, *a]', ': ', '- ', '? ', '{', '}', '[', ']', ',', '"', "'", '\n', '\t', '  ', '# ', '!!str ',
  '!!binary ', '!!map ', '!!set ', '!!omap ', '!!pairs ', '!!timestamp ', '!!float ', '!!int ', '!custom ', '<<: *a\n', '---\n',
  '...\n', '%YAML 1.1\n', '%TAG ! tag:x,2024:\n', '|\n', '>-\n', '~', 'null', '.nan', '.inf', '-.inf', '0x1F', '0o17', '1e400',
  '__proto__: ', 'constructor: ', '\u0000', '\ufeff', '𝔡', '\ud800', '\r\n', 'steps: ', 'name: ', 'requires: ', 'expr: ',
];
const piece = fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 6 }));
/** Edits of a flow's text; most cases have none, since nearly any edit makes the YAML invalid. */
const edits = fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, fc.array(fc.record({ at: fc.nat(), remove: fc.nat({ max: 8 }), insert: piece }), { minLength: 1, maxLength: 3 }));

function edit(text: string, changes: readonly { at: number; remove: number; insert: string }[]): string {
  let edited = text;
  for (const { at, remove, insert } of changes) {
    const index = edited.length === 0 ? 0 : at % (edited.length + 1);
    edited = edited.slice(0, index) + insert + edited.slice(index + remove);
  }
  return edited;
}

const quiet = { store: ':memory:', config: { logging: { console: false } } } as const;

/**
 * A mutated flow as the text of a file. What a format cannot write falls back to the next: a
 * cycle has no JSON form (YAML writes it with an alias), and the YAML writer runs out of stack on
 * deep nesting (JSON, which is YAML too, does not).
 */
function serialise(data: unknown, format: 'yaml' | 'json' | 'yaml-flow'): string {
  const writers = {
    yaml: () => stringifyYaml(data),
    'yaml-flow': () => stringifyYaml(data, { collectionStyle: 'flow' }),
    json: () => JSON.stringify(data, null, 1),
  };
  for (const name of [format, 'yaml', 'json'] as const) {
    try {
      // A flow mutated away to nothing is an empty file.
      return writers[name]() ?? '';
    } catch {
      // try the next writer
    }
  }
  return '';
}

/**
 * Loads a flow file and, when it loads, builds and validates what run() would validate, without
 * running it: the Mermaid graph, the FlowSpec (a Sequent's as it compiles it)
 * and validateFlow.
 */
function checkFlowFile(path: string, input: () => string): void {
  const started = performance.now();
  let flow: Eventor | Sequent | undefined;
  try {
    flow = loadFlow(path, quiet);
  } catch (error) {
    assertNamed(error, input, ValidationError);
    // Every refusal of loadFlow names the file it read.
    assert.ok(error instanceof FlowFileError && (error as Error).message.startsWith(path), `${(error as Error).stack}\nfor input: ${input()}`);
  }
  if (flow) {
    try {
      flow.toMermaid();
      validateFlow(flow.toSpec());
    } catch (error) {
      assertNamed(error, input, ValidationError);
    }
  }
  const took = performance.now() - started;
  assert.ok(took < SLOW_MS, `loading took ${Math.round(took)} ms\nfor input: ${input()}`);
}

test('fuzz: mutated flows, as YAML and as JSON, load as a flow or fail with a named FlowFileError', LIMIT, (t) => {
  const dir = tempDir(t, 'eventor-fuzz-flow-');
  fc.assert(
    fc.property(fc.nat({ max: SEEDS.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom('yaml', 'json', 'yaml-flow'), edits, (seed, mutations, format, changes) => {
      const data = mutate(SEEDS[seed].data, mutations);
      let text = serialise(data, format);
      text = edit(text, changes);
      const path = join(dir, format === 'json' ? 'flow.json' : 'flow.yaml');
      writeFileSync(path, text);
      checkFlowFile(path, () => `${SEEDS[seed].name} mutated to:\n${text.slice(0, 3_000)}`);
    }),
    params(150),
  );
});

test('fuzz: random text and bytes as a flow file load as a flow or fail with a named FlowFileError', LIMIT, (t) => {
  const dir = tempDir(t, 'eventor-fuzz-text-');
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 120 }),
    fc.array(piece, { maxLength: 30 }).map((pieces) => pieces.join('')),
    fc.array(fc.constantFrom(...PIECES, 'steps:\n', '  - name: x\n', '    command: "true"\n', '    requires: '), { maxLength: 20 }).map((pieces) => pieces.join('')),
  );
  fc.assert(
    fc.property(fc.oneof(text.map((content) => Buffer.from(content)), fc.uint8Array({ maxLength: 120 }).map((bytes) => Buffer.from(bytes))), (bytes) => {
      const path = join(dir, 'random.yaml');
      writeFileSync(path, bytes);
      checkFlowFile(path, () => JSON.stringify(bytes.toString('latin1')));
    }),
    params(100),
  );
});

// -- configuration objects ----------------------------------------------------------------------


/** Any value a user might pass by mistake, plus the right ones, so that acceptance is reached too. */
const option: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    undefined, null, true, false, 0, -0, 1, 2, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 1e308, '', ' ', '1', 'true',
    'inline', 'worker', 'process', 'command', 'remote', 'debug', 'info', 'warn', 'silent', 'EVENTOR_', '.eventor/logs', [], {}, [1], { level: 'debug' },
  ),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.bigInt(),
  fc.constant(Symbol('fuzz')),
  fc.constant(() => 1),
  fc.date(),
  fc.jsonValue({ maxDepth: 2 }),
);
/**
 * Settings that are right, then spoiled: a third of the cases as they are (so that acceptance,
 * and runs, are reached), the rest with one or two keys set to any value, a known key or not.
 */
function spoiled(right: fc.Arbitrary<Record<string, unknown>>, keys: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  const spoiler = fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...keys) }, fc.string({ maxLength: 6 })), option);
  return fc.tuple(right, fc.oneof(fc.constant([]), fc.array(spoiler, { minLength: 1, maxLength: 2 }))).map(([settings, spoilers]) => {
    const copy = { ...settings };
    for (const [key, item] of spoilers) put(copy, key, item);
    return copy;
  });
}

const LOGGING_KEYS = ['level', 'console', 'file'] as const;
const RUN_KEYS = ['maxConcurrent', 'stopOnException', 'envvarPrefix', 'logging', 'logdir', 'dayToKeepDb', 'executor', 'workers', 'killGrace', 'closeGrace'] as const;
const STEP_KEYS = ['stopOnException', 'maxConcurrent', 'timeout', 'retries', 'retryDelay', 'retryBackoff', 'executor'] as const;

const loggingConfig = spoiled(fc.record({ level: fc.constantFrom('debug', 'info', 'warn', 'error', 'silent'), console: fc.boolean(), file: fc.boolean() }, { requiredKeys: [] }), LOGGING_KEYS);
/** Run settings: each key left out or right, then spoiled. */
const runSettings = (logdir: fc.Arbitrary<unknown>, logging: fc.Arbitrary<unknown>) =>
  spoiled(
    fc.record(
      {
        maxConcurrent: fc.integer({ min: -1, max: 8 }),
        stopOnException: fc.boolean(),
        envvarPrefix: fc.constantFrom('EVENTOR_', 'FUZZ_', ''),
        logging,
        logdir,
        dayToKeepDb: fc.nat(30),
        executor: fc.constantFrom('process', 'worker', 'inline'),
        workers: fc.nat(4),
        killGrace: fc.nat(5),
        closeGrace: fc.nat(10),
      },
      { requiredKeys: [] },
    ),
    RUN_KEYS,
  );
const runConfig: fc.Arbitrary<unknown> = fc.oneof({ weight: 8, arbitrary: runSettings(fc.string({ maxLength: 8 }), loggingConfig) }, { weight: 1, arbitrary: option });
/** Step settings, with numbers that keep a run of a step that returns at once short. */
const stepSettings = spoiled(
  fc.record(
    {
      stopOnException: fc.boolean(),
      maxConcurrent: fc.integer({ min: -1, max: 8 }),
      timeout: fc.double({ min: 1, max: 60, noNaN: true }),
      retries: fc.nat(3),
      retryDelay: fc.double({ min: 0, max: 0.01, noNaN: true }),
      retryBackoff: fc.double({ min: 1, max: 2, noNaN: true }),
      executor: fc.constant('inline'),
    },
    { requiredKeys: [] },
  ),
  STEP_KEYS,
);
const stepConfig: fc.Arbitrary<unknown> = fc.oneof({ weight: 8, arbitrary: stepSettings }, { weight: 1, arbitrary: option });

/** Keys of a fuzzed config object, for checking that an error names one of them. */
function keysOf(config: unknown): string[] {
  return typeof config === 'object' && config !== null ? Object.keys(config) : [];
}

/** Fails unless `error` is a ValidationError, and a ConfigError among them names an option that was given. */
function assertNamesOption(error: unknown, given: string[], input: () => string): void {
  assertNamed(error, input, ValidationError);
  if (error instanceof ConfigError) {
    const option = error.key.split('.')[0];
    assert.ok(['config', 'logging', ...given].includes(option) && error.message.includes(error.key), `${error.message} names no option that was given (${given.join(', ')})\nfor input: ${input()}`);
  }
}

/** Builds a one-step flow with the given run and step config and validates it as run() would, without running. */
function validateConfigs(config: unknown, step: unknown): void {
  const input = () => `config ${show(config)}, step config ${show(step)}`;
  try {
    const ev = new Eventor({ name: 'fuzz', store: ':memory:', config: config as never });
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('s1', { func: () => 1, config: step as never }));
    ev.triggerEvent(start, 1);
    validateFlow(ev.toSpec());
  } catch (error) {
    assertNamesOption(error, [...keysOf(config), ...keysOf(step)], input);
  }
}

test('fuzz: random run and step config give a ConfigError or ValidationError naming the option, or are accepted', LIMIT, () => {
  fc.assert(fc.property(runConfig, stepConfig, validateConfigs), params(150));
});

/** addStep options of every key, each of any value: code, triggers, recovery, resources. */
const stepOptions: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.record(
    {
      func: fc.oneof(fc.constant(() => 1), option),
      command: fc.oneof(fc.constant(['true']), option, fc.array(option, { maxLength: 3 })),
      module: option,
      export: option,
      args: option,
      kwargs: option,
      triggers: fc.oneof(option, fc.dictionary(fc.constantFrom(...Object.values(StepStatus), 'done'), fc.oneof(option, fc.constant(['start'])), { maxKeys: 2 })),
      recovery: fc.oneof(option, fc.dictionary(fc.constantFrom('success', 'failure', 'active', 'complete'), option, { maxKeys: 2 })),
      config: stepConfig,
      cwd: option,
      env: option,
    },
    { requiredKeys: [] },
  ) },
  { weight: 1, arbitrary: option },
);

test('fuzz: random addStep options give a named ValidationError, or are accepted', LIMIT, () => {
  fc.assert(
    fc.property(stepOptions, (options) => {
      const input = () => `addStep('s1', ${show(options)})`;
      try {
        const ev = new Eventor({ name: 'fuzz', store: ':memory:' });
        const start = ev.addEvent('start');
        ev.addAssoc(start, ev.addStep('s1', options as never));
        ev.triggerEvent(start, 1);
        validateFlow(ev.toSpec());
      } catch (error) {
        assertNamed(error, input, ValidationError);
      }
    }),
    params(100),
  );
});

/**
 * Step settings whose waits are short: a retry delay of 1e158 seconds is a valid setting, and a
 * run with it rightly waits that long, so a spoiled retryDelay or retryBackoff that is a large
 * number is made small; every other spoiled value stays.
 */
function shortWaits(step: unknown): unknown {
  if (typeof step !== 'object' || step === null || Array.isArray(step)) return step;
  const settings = { ...(step as Record<string, unknown>) };
  if (typeof settings.retryDelay === 'number' && settings.retryDelay > 0.01) settings.retryDelay = 0.01;
  if (typeof settings.retryBackoff === 'number' && settings.retryBackoff > 2) settings.retryBackoff = 2;
  if (typeof settings.retries === 'number' && settings.retries > 3) settings.retries = 3;
  return settings;
}

test('fuzz: a run with random config of harmless inline steps resolves, or fails before it starts with a named error', LIMIT, async (t) => {
  const dir = tempDir(t, 'eventor-fuzz-run-');
  const aFile = join(dir, 'a-file');
  writeFileSync(aFile, 'not a folder');
  const logdirs = [join(dir, 'logs'), join(dir, 'new', 'nested', 'logs'), aFile, '', 42];
  // Quiet, and never logging anywhere but this test's folder.
  const logging = fc.oneof(
    { weight: 6, arbitrary: fc.record({ level: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('debug', 'silent') }, option), console: fc.constant(false), file: fc.oneof({ weight: 6, arbitrary: fc.boolean() }, option) }) },
    { weight: 1, arbitrary: fc.constantFrom(null, 5, 'loud', []) },
  );
  const runConfigOfRun = runSettings(fc.oneof({ weight: 3, arbitrary: fc.constant(logdirs[0]) }, fc.constantFrom(...logdirs)), logging).map((config) => {
    const settings = { logdir: join(dir, 'logs'), logging: { console: false }, ...(config as Record<string, unknown>) };
    // A spoiled logdir may be any relative text: it still lands in this test's folder, never in the project.
    if (typeof settings.logdir === 'string' && settings.logdir !== '' && !isAbsolute(settings.logdir)) settings.logdir = join(dir, settings.logdir);
    return settings;
  });
  await fc.assert(
    fc.asyncProperty(runConfigOfRun, stepConfig.map(shortWaits), fc.boolean(), async (config, step, failing) => {
      const input = () => `config ${show(config)}, step config ${show(step)}, failing ${failing}`;
      let ev: Eventor | undefined;
      try {
        ev = new Eventor({ name: 'fuzz', store: ':memory:', config: config as never });
        const start = ev.addEvent('start');
        const done = ev.addEvent('done');
        ev.addAssoc(start, ev.addStep('s1', { func: () => {
          if (failing) throw new Error('planned');
          return 1;
        }, config: step as never, triggers: { success: [done] } }));
        ev.addAssoc(done, ev.addStep('s2', { func: () => 2 }));
        ev.triggerEvent(start, 1);
        const ok = await ev.run();
        assert.equal(typeof ok, 'boolean');
      } catch (error) {
        assertNamed(error, input);
      } finally {
        await ev?.close();
      }
    }),
    { ...params(50), timeout: 5_000 },
  );
});

test(
  'fuzz: a step that finishes in a few milliseconds succeeds under any timeout of a second or more, however long',
  LIMIT,
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.double({ min: 1, max: 2_000_000, noNaN: true }), fc.double({ min: 2_147_484, max: 1e12, noNaN: true }), fc.constant(Infinity)), async (timeout) => {
        const ev = new Eventor({ name: 'fuzz', store: ':memory:', config: { logging: { console: false } } });
        try {
          const start = ev.addEvent('start');
          ev.addAssoc(start, ev.addStep('s1', { func: () => new Promise((resolve) => setTimeout(resolve, 5)), config: { timeout } }));
          ev.triggerEvent(start, 1);
          assert.equal(await ev.run(), true, `timeout ${timeout} s`);
        } finally {
          await ev.close();
        }
      }),
      params(20),
    );
  },
);

// -- store records ------------------------------------------------------------------------------

/** Every key and value of a LevelDB folder (values as hex). */
async function dump(folder: string): Promise<Record<string, string>> {
  const db = new ClassicLevel<string, string>(folder, { keyEncoding: 'utf8', valueEncoding: 'hex' });
  await db.open({ createIfMissing: false });
  try {
    return Object.fromEntries(await db.iterator().all());
  } finally {
    await db.close();
  }
}

async function putRaw(folder: string, key: string, bytes: Uint8Array): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(folder, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    await db.put(key, bytes);
  } finally {
    await db.close();
  }
}

/** The flow whose store is damaged: s1 triggers s2, and, after a delay, the event `later`. */
function storeFlow(folder: string, runMode: RunMode): Eventor {
  const ev = new Eventor({ name: 'fuzz-store', store: folder, runMode, config: { logging: { console: false } } });
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  const later = ev.addEvent('later');
  ev.addAssoc(start, ev.addStep('s1', { func: () => 'one', triggers: { success: [done] } }));
  ev.addAssoc(done, ev.addStep('s2', { func: () => 'two' }));
  ev.addAssoc(done, later, { delay: 0.01 });
  ev.triggerEvent(start, 1);
  return ev;
}

/** A record with one field changed, dropped or retyped, or its envelope (v, kind) changed. */
function damagedRecord(original: Record<string, unknown>, field: number, replacement: unknown, how: number): unknown {
  const fields = Object.keys(original);
  const name = fields[field % fields.length];
  const copy: Record<string, unknown> = { ...original };
  if (how === 0) delete copy[name];
  else if (how === 1) copy[name] = replacement;
  else if (how === 2) copy[name] = retype(copy[name]);
  else if (how === 3) copy.v = replacement;
  else copy.kind = replacement;
  return copy;
}

test('fuzz: random bytes and wrong-shaped records under real keys give a named StoreError and leave the store as it was', LIMIT, async (t) => {
  const dir = tempDir(t, 'eventor-fuzz-store-');
  const baseline = join(dir, 'baseline');
  const first = storeFlow(baseline, RunMode.restart);
  assert.equal(await first.run(), true);
  await first.close();
  const original = await dump(baseline);
  const keys = Object.keys(original);
  for (const kind of ['run', 'task', 'event', 'delay']) assert.ok(keys.some((key) => key.startsWith(`${kind}\u0000`)), `the baseline has a ${kind} record`);
  let cases = 0;

  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.anything({ maxDepth: 2, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true }).map((item) => encode(item)),
    fc.tuple(fc.nat(), fc.nat(), option, fc.nat({ max: 4 })).map(([key, field, replacement, how]) => [key, field, replacement, how] as const),
  );
  await fc.assert(
    fc.asyncProperty(fc.nat(), bytes, fc.constantFrom(RunMode.recover, RunMode.continue), async (pick, damage, runMode) => {
      const key = keys[pick % keys.length];
      let value: Uint8Array;
      if (damage instanceof Uint8Array) value = damage;
      else {
        const [, field, replacement, how] = damage;
        try {
          value = encode(damagedRecord(decode(Buffer.from(original[key], 'hex')) as Record<string, unknown>, field, replacement, how));
        } catch {
          value = Buffer.from('c1', 'hex');
        }
      }
      const folder = join(dir, `case-${cases++}`);
      cpSync(baseline, folder, { recursive: true });
      await putRaw(folder, key, value);
      const before = await dump(folder);
      const input = () => `${JSON.stringify(key)} = ${Buffer.from(value).toString('hex')}, ${runMode}`;
      let decoded: unknown;
      let decodes = true;
      try {
        decoded = decode(value);
      } catch {
        decodes = false;
      }
      const notAnObject = !decodes || typeof decoded !== 'object' || decoded === null || Array.isArray(decoded) || decoded instanceof Map;
      const refused: unknown[] = [];

      const store = new LevelStore(folder);
      try {
        await store.open();
        for (const read of [() => store.listRuns(), () => store.loadRecovery(first.runId, 0), () => store.getRun(first.runId)]) {
          await read().catch((error: unknown) => {
            refused.push(error);
            assertNamed(error, input, StoreError);
          });
        }
      } finally {
        await store.close();
      }
      if (notAnObject) {
        assert.ok(refused.length > 0 && refused.every((error) => error instanceof StoreFormatError), `bytes that are no record were read without a StoreFormatError\nfor input: ${input()}`);
        for (const error of refused) assert.ok((error as Error).message.includes(folder) && (error as Error).message.includes(JSON.stringify(key)), `${(error as Error).message}\nfor input: ${input()}`);
      }
      assert.deepEqual(await dump(folder), before, `reading changed the store\nfor input: ${input()}`);

      const ev = storeFlow(folder, runMode);
      let ran = false;
      try {
        assert.equal(typeof (await ev.run({ maxLoops: 1 })), 'boolean');
        ran = true;
      } catch (error) {
        assertNamed(error, input);
        if (notAnObject) assertNamed(error, input, StoreFormatError);
      } finally {
        await ev.close();
      }
      if (!ran) assert.deepEqual(await dump(folder), before, `a refused ${runMode} changed the store\nfor input: ${input()}`);
      rmSync(folder, { recursive: true, force: true });
    }),
    { ...params(40), timeout: 5_000 },
  );
});
