// The parts of the cluster that need no NATS: the wire format and its checks, subject tokens,
// how a step on several hosts becomes one task machine per host joined by events, and the
// flows that are refused before anything connects. The real cluster is in cluster*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { ConfigError, Eventor, loadFlow, RootEscapeError, StepCodeError, ValidationError, validateFlow, type FlowSpec } from '../src/index.js';
import { splitHosts } from '../src/actors/hosts.js';
import { moduleUnderRoot } from '../src/transport/agent.js';
import { natsSettingsOf } from '../src/transport/connection.js';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, Subjects, token, tryId, type TaskMessage, type Unversioned } from '../src/transport/protocol.js';
import { errorOf, LIMIT, makeEventor, Recorder } from './helpers.js';

const task: Unversioned<TaskMessage> = { kind: 'task', id: 'i', runId: 'r', recovery: 0, sequence: '1', step: { name: 's', args: [], executor: 'inline' }, envvarPrefix: 'EVENTOR_', killGraceMs: 1 };

test('a message of our protocol decodes; another version, garbage and a truncated one are dropped with a line naming the subject', () => {
  const lines: string[] = [];
  const drop = (line: string) => lines.push(line);
  const bytes = encodeMessage(task);
  assert.equal(decodeMessage('eventor.tasks.host.n1.x', bytes, ['task'], drop)?.id, 'i');
  assert.equal(lines.length, 0);
  const other = new Packr({ useRecords: false }).pack({ ...task, v: PROTOCOL_VERSION + 98 });
  assert.equal(decodeMessage('subject.a', other, ['task'], drop), undefined);
  assert.equal(decodeMessage('subject.b', new Uint8Array([0xc1, 0xff, 0x00, 0x13]), ['task'], drop), undefined);
  assert.equal(decodeMessage('subject.c', bytes.subarray(0, bytes.length - 5), ['task'], drop), undefined);
  assert.equal(decodeMessage('subject.d', encodeMessage({ kind: 'ping' }), ['task'], drop), undefined);
  assert.equal(decodeMessage('subject.e', new Packr({ useRecords: false }).pack({ ...task, step: 'not code' }), ['task'], drop), undefined);
  assert.equal(lines.length, 5);
  for (const [index, letter] of ['a', 'b', 'c', 'd', 'e'].entries()) assert.match(lines[index], new RegExp(`^dropped a message on subject\\.${letter}`));
  assert.match(lines[0], /protocol version 99/);
});

test('names become single subject tokens, distinct for distinct names', () => {
  const names = ['node1', 'node1.example.com', 'a*b', 'a>b', 'a b', 'a~2e~b', 'run.2026'];
  const tokens = names.map(token);
  for (const value of tokens) assert.match(value, /^[A-Za-z0-9_~-]+$/);
  assert.equal(new Set(tokens).size, names.length);
  const subjects = new Subjects('eventor');
  assert.equal(subjects.hostTask('node1.example.com', tryId('r', 0, 's', '1', 1)).split('.').length, 5);
  assert.notEqual(tryId('r', 0, 's', '1', 1), tryId('r', 0, 's', '1', 2));
});

test('a step on several hosts is one task per host, joined: the step succeeds when every host did', () => {
  const spec: FlowSpec = {
    name: 'f',
    events: [{ name: 'go' }, { name: 'ok' }, { name: 'bad' }],
    steps: [{ name: 's', module: './m.mjs', export: 'f', args: [], hosts: ['n1', 'n2'], triggers: { success: ['ok'], failure: ['bad'] }, recovery: {}, config: {} }],
    assocs: [{ event: 'go', targets: [{ kind: 'step', name: 's' }], delay: 0 }],
    triggers: [],
    config: {},
  };
  const split = splitHosts(spec);
  validateFlow(split);
  assert.deepEqual(split.steps.map((step) => [step.name, step.host]), [['s@n1', 'n1'], ['s@n2', 'n2']]);
  assert.deepEqual(split.assocs.find((assoc) => assoc.event === 'go')?.targets, [{ kind: 'step', name: 's@n1' }, { kind: 'step', name: 's@n2' }]);
  assert.deepEqual(split.events.find((event) => event.name === 's:success')?.expr, { op: 'and', items: ['s@n1:success', 's@n2:success'] });
  assert.deepEqual(split.events.find((event) => event.name === 's:failure')?.expr, { op: 'or', items: ['s@n1:failure', 's@n2:failure'] });
  // The step handles its failures (it has failure triggers), so each host's failure is handled too.
  assert.deepEqual(split.steps[0].triggers, { failure: ['s@n1:failure'] });
  const one = splitHosts({ ...spec, steps: [{ ...spec.steps[0], hosts: ['n1'] }] });
  assert.deepEqual(one.steps.map((step) => [step.name, step.host, step.hosts]), [['s', 'n1', undefined]]);
});

test('steps on other hosts are checked before anything connects: hosts, queue, and code that can cross', LIMIT, async (t) => {
  const flow = (options: Record<string, unknown>) => {
    const ev = makeEventor(t);
    ev.addAssoc(ev.addEvent('go'), ev.addStep('remote', { module: './m.mjs', export: 'f', ...options }));
    ev.triggerEvent('go', 1);
    return ev;
  };
  for (const [options, kind, pattern] of [
    [{ hosts: ['n1', 'n1'] }, ConfigError, /'n1' is listed twice/],
    [{ hosts: [] }, ConfigError, /host names/],
    [{ hosts: ['n1'], queue: 'q' }, ConfigError, /either hosts or a queue/],
    [{ queue: '' }, ConfigError, /work queue/],
  ] as const) {
    const error = await errorOf(() => flow(options).run());
    assert.ok(error instanceof kind, `${JSON.stringify(options)}: ${String(error)}`);
    assert.match((error as Error).message, pattern);
    assert.match((error as Error).message, /step 'remote'/);
  }
  const ev = makeEventor(t);
  ev.addAssoc(ev.addEvent('go'), ev.addStep('local', { func: () => 1, hosts: ['n1'] }));
  ev.triggerEvent('go', 1);
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof StepCodeError);
  assert.match((error as Error).message, /step 'local'.*cannot cross to another host/);
});

test('a flow with hosts or queue steps and no NATS is a ValidationError that says where to give it', LIMIT, async (t) => {
  const saved = process.env.EVENTOR_NATS_URL;
  delete process.env.EVENTOR_NATS_URL;
  t.after(() => (saved === undefined ? undefined : (process.env.EVENTOR_NATS_URL = saved)));
  const ev = makeEventor(t);
  const recorder = new Recorder(ev);
  ev.addAssoc(ev.addEvent('go'), ev.addStep('remote', { module: './m.mjs', export: 'f', queue: 'gpu' }));
  ev.triggerEvent('go', 1);
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof ValidationError);
  assert.match((error as Error).message, /step 'remote' runs on other hosts.*config\.nats.*EVENTOR_NATS_URL/);
  assert.equal(recorder.records.length, 0);
});

test('NATS settings come from config.nats, else EVENTOR_NATS_URL, and a bad one is a ConfigError that hides a password in the URL', () => {
  assert.equal(natsSettingsOf(undefined, {}), undefined);
  assert.deepEqual(natsSettingsOf(undefined, { EVENTOR_NATS_URL: 'nats://a:1, nats://b:2' }), { servers: ['nats://a:1', 'nats://b:2'] });
  assert.deepEqual(natsSettingsOf({ servers: 'nats://c:3' }, { EVENTOR_NATS_URL: 'nats://a:1' })?.servers, 'nats://c:3');
  const error = (() => {
    try {
      return natsSettingsOf({ servers: ['nats://me:hunter2@h:1', ''] }, {});
    } catch (thrown) {
      return thrown;
    }
  })();
  assert.ok(error instanceof ConfigError, String(error));
  assert.match((error as Error).message, /nats\.servers/);
  assert.ok(!(error as Error).message.includes('hunter2'), (error as Error).message);
  assert.throws(() => natsSettingsOf({ servers: 'nats://x:1', ackWait: -1 }, {}), /nats\.ackWait/);
  assert.throws(() => natsSettingsOf({ servers: 'nats://x:1', prefix: 'a.b' }, {}), /nats\.prefix/);
});

test('an agent resolves modules under its root and refuses paths that leave it, through .. or a symbolic link', (t) => {
  const top = mkdtempSync(join(tmpdir(), 'eventor-root-'));
  t.after(() => rmSync(top, { recursive: true, force: true }));
  const root = join(top, 'root');
  mkdirSync(join(root, 'lib'), { recursive: true });
  writeFileSync(join(root, 'lib', 'ok.mjs'), 'export const f = () => 1;\n');
  writeFileSync(join(top, 'outside.mjs'), 'export const f = () => 2;\n');
  symlinkSync(join(top, 'outside.mjs'), join(root, 'link.mjs'));
  assert.equal(moduleUnderRoot(root, './lib/ok.mjs'), join(root, 'lib', 'ok.mjs'));
  assert.throws(() => moduleUnderRoot(root, '../outside.mjs'), (error: Error) => error instanceof RootEscapeError && /leads outside the agent's root/.test(error.message));
  assert.throws(() => moduleUnderRoot(root, './lib/../../outside.mjs'), RootEscapeError);
  assert.throws(() => moduleUnderRoot(root, join(top, 'outside.mjs')), RootEscapeError);
  assert.throws(() => moduleUnderRoot(root, './link.mjs'), (error: Error) => error instanceof RootEscapeError && /symbolic link/.test(error.message));
  assert.throws(() => moduleUnderRoot(root, 'file:///etc/passwd'), RootEscapeError);
  assert.throws(() => moduleUnderRoot(root, './missing.mjs'), (error: Error) => error instanceof RootEscapeError && /no such file/.test(error.message));
});

test('a YAML flow of the Eventor form takes hosts and queue, and keeps a remote module path as written for the agents to resolve', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-yaml-hosts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'flow.yaml');
  const yaml = ['name: hosts', 'events: [{ name: go }, { name: next }]', 'steps:', '  - { name: a, module: ./jobs.mjs, export: run, hosts: [n1, n2], triggers: { success: [next] } }', '  - { name: b, command: "true", queue: nightly }', 'assocs: [{ event: go, targets: [a] }, { event: next, targets: [b] }]', ''];
  writeFileSync(path, yaml.join('\n'));
  const flow = loadFlow(path, { store: ':memory:' });
  assert.ok(flow instanceof Eventor);
  const spec = flow.toSpec();
  const [a, b] = spec.steps;
  assert.deepEqual([a.module, a.hosts, a.cwd], ['./jobs.mjs', ['n1', 'n2'], undefined]);
  assert.deepEqual([b.queue, b.cwd], ['nightly', undefined]);
});
