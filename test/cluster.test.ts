// Steps on cluster agents, as a user meets them: a real nats-server, real `eventor agent`
// processes (they run dist/: build first), supervisors in this process. What ran where is read
// from the file the fixture steps append to (test/fixtures/cluster/steps.mjs), not only from
// what the supervisor recorded.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AgentTimeoutError, NatsConnectionError, StepCodeError, StepStatus, TriggerRefusedError, ValidationError, sendTrigger } from '../src/index.js';
import { CLI, Cluster, FIXTURES, code, countOf, linesOf, until } from './cluster-helpers.js';
import { errorOf, tempDir } from './helpers.js';
import { freePort } from './nats-harness.js';

const LIMIT = { timeout: 60_000 } as const;

test('a step on hosts n1 and n2 runs once on each host, its results name the host, and its success trigger fires only after both', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gate = cluster.gate(join(dir, 'gate'));
  await Promise.all([cluster.agent('n1'), cluster.agent('n2')]);
  const { ev, recorder } = cluster.eventor();
  const start = ev.addEvent('start');
  const done = ev.addEvent('s_done');
  // n1 finishes at once; n2 waits at the gate, so the step is half done for as long as the test likes.
  ev.addAssoc(start, ev.addStep('s', { ...code('gated', runs, gate, ['n2']), hosts: ['n1', 'n2'], triggers: { [StepStatus.success]: [done] } }));
  ev.addAssoc(done, ev.addStep('next', { func: () => 'both hosts done' }));
  ev.triggerEvent(start, 1);
  const running = ev.run();

  await until(() => recorder.statuses('s@n1', '1').includes('success') && countOf(runs, 'n2 s@n2/1 start') === 1, 's@n1 to succeed while s@n2 runs', 30_000, () => recorder.describe());
  assert.equal(recorder.runs('next'), 0, `the success trigger fired with one host of two done: ${recorder.describe()}`);
  writeFileSync(gate, '');
  assert.equal(await running, true, recorder.describe());

  for (const host of ['n1', 'n2']) {
    const success = recorder.find(`s@${host}`, '1', 'success');
    assert.equal(success.host, host, `the record of s@${host} names the agent's host`);
    assert.deepEqual(success.result, { host, step: `s@${host}`, sequence: '1' }, 'the result is what the code returned on its host');
    assert.equal(recorder.runs(`s@${host}`), 1);
    assert.equal(countOf(runs, `${host} s@${host}/1 start`), 1, `s ran once on ${host}: ${linesOf(runs).join(' | ')}`);
    assert.equal(countOf(runs, `${host} s@${host}/1 end`), 1);
  }
  assert.equal(linesOf(runs).length, 4, linesOf(runs).join(' | '));
  const nextActive = recorder.indexOf('next', '1', 'active');
  assert.ok(nextActive > recorder.indexOf('s@n1', '1', 'success') && nextActive > recorder.indexOf('s@n2', '1', 'success'), recorder.describe());
  assert.equal(recorder.find('next', '1', 'success').result, 'both hosts done');
  await ev.close();
});

test('five sequences through a queue served by two agents each run exactly once, on a host the records name', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  // One task at a time per agent: two tasks running at once can only be on two agents.
  await Promise.all([cluster.agent('n1', { queues: ['work'], maxConcurrent: 1 }), cluster.agent('n2', { queues: ['work'], maxConcurrent: 1 })]);
  const { ev, recorder } = cluster.eventor();
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('q', { ...code('together', runs, 2, 10_000), queue: 'work' }));
  for (let sequence = 1; sequence <= 5; sequence++) ev.triggerEvent(start, sequence);
  assert.equal(await ev.run(), true, recorder.describe());

  const hosts = new Set<string>();
  for (let sequence = 1; sequence <= 5; sequence++) {
    const started = linesOf(runs).filter((line) => line.endsWith(` q/${sequence} start`));
    assert.equal(started.length, 1, `q/${sequence} ran once: ${linesOf(runs).join(' | ')}`);
    const ranOn = started[0].split(' ')[0];
    const success = recorder.find('q', String(sequence), 'success');
    assert.equal(success.host, ranOn, `the record of q/${sequence} names the host it ran on`);
    assert.deepEqual(success.result, { host: ranOn, step: 'q', sequence: String(sequence) });
    assert.equal(recorder.sequencesOf('q', 'success').filter((s) => s === String(sequence)).length, 1);
    hosts.add(ranOn);
  }
  assert.deepEqual([...hosts].sort(), ['n1', 'n2'], `both agents of the queue took tasks: ${linesOf(runs).join(' | ')}`);
  await ev.close();
});

test('regression: a busy agent does not hoard the tasks of a queue while another agent of the queue is idle', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gate = cluster.gate(join(dir, 'gate'));
  await cluster.agent('n1', { queues: ['work'], maxConcurrent: 1 });
  const { ev, recorder } = cluster.eventor();
  const start = ev.addEvent('start');
  // Tasks on n1 wait at the gate; tasks on n2 go straight through.
  ev.addAssoc(start, ev.addStep('q', { ...code('gated', runs, gate, ['n1']), queue: 'work' }));
  for (let sequence = 1; sequence <= 4; sequence++) ev.triggerEvent(start, sequence);
  const running = ev.run();
  await until(() => linesOf(runs).some((line) => line.startsWith('n1 ') && line.endsWith(' start')), 'n1 to start a task', 30_000, () => linesOf(runs).join(' | '));
  await cluster.agent('n2', { queues: ['work'], maxConcurrent: 1 });
  // n1 is held at the gate with one task: the three others are n2's to run, before the gate opens.
  await until(() => linesOf(runs).filter((line) => line.startsWith('n2 ') && line.endsWith(' end')).length === 3, 'n2 to run the three tasks n1 cannot start', 30_000, () => linesOf(runs).join(' | '));
  assert.equal(linesOf(runs).filter((line) => line.startsWith('n1 ')).length, 1, `n1 took only the task it runs: ${linesOf(runs).join(' | ')}`);
  writeFileSync(gate, '');
  assert.equal(await running, true, recorder.describe());
  await ev.close();
});

test("a remote step's log lines reach the supervisor's console and JSON log with the agent's host", LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const logdir = join(dir, 'logs');
  await Promise.all([cluster.agent('n1'), cluster.agent('n2')]);
  const { ev, lines } = cluster.eventor({ name: 'logs', store: join(dir, 'store'), config: { logdir } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('one', { ...code('says', runs, 'hello'), hosts: ['n1'] }));
  ev.addAssoc(start, ev.addStep('s', { ...code('says', runs, 'hi'), hosts: ['n1', 'n2'] }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true, lines.join('\n'));
  const runId = ev.runId;
  await ev.close();

  const time = '\\[ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3} \\]';
  const expected = [
    new RegExp(`^${time}\\[ n1 \\]\\[ Task-one\\(1\\) \\]\\[ INFO \\]\\[ hello from n1 \\]$`),
    new RegExp(`^${time}\\[ n1 \\]\\[ Task-s@n1\\(1\\) \\]\\[ INFO \\]\\[ hi from n1 \\]$`),
    new RegExp(`^${time}\\[ n2 \\]\\[ Task-s@n2\\(1\\) \\]\\[ INFO \\]\\[ hi from n2 \\]$`),
  ];
  for (const pattern of expected) assert.equal(lines.filter((line) => pattern.test(line)).length, 1, `one console line matches ${pattern}:\n${lines.join('\n')}`);

  const file = join(logdir, `logs-${runId}.jsonl`);
  assert.ok(existsSync(file), `the run's JSON log ${file} exists`);
  const records = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  const byMessage = (msg: string) => records.filter((record) => record.msg === msg);
  assert.deepEqual(byMessage('hello from n1').map((r) => [r.host, r.step, r.sequence, r.runId]), [['n1', 'one', '1', runId]], JSON.stringify(records));
  assert.deepEqual(byMessage('hi from n1').map((r) => r.host), ['n1']);
  assert.deepEqual(byMessage('hi from n2').map((r) => r.host), ['n2']);
  // The supervisor's own lines keep its own host.
  const own = records.find((record) => typeof record.msg === 'string' && record.msg.startsWith('Starting run'));
  assert.equal(own?.host, hostname(), JSON.stringify(own));
});

test('a step on hosts with no NATS configured is a ValidationError naming the step, and no agent gets it', LIMIT, async (t) => {
  const saved = process.env.EVENTOR_NATS_URL;
  delete process.env.EVENTOR_NATS_URL;
  t.after(() => {
    if (saved !== undefined) process.env.EVENTOR_NATS_URL = saved;
  });
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  await cluster.agent('n1');
  const { ev, recorder } = cluster.eventor({ nats: null });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('remote_step', { ...code('record', runs), hosts: ['n1'] }));
  ev.triggerEvent(start, 1);
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof ValidationError, `a ValidationError, not ${String(error)}`);
  assert.match(error.message, /step 'remote_step'/);
  assert.match(error.message, /NATS/);
  assert.deepEqual(recorder.records, []);
  assert.deepEqual(linesOf(runs), []);
  await ev.close();
});

test('a NATS nobody listens on is a NatsConnectionError, and the LevelDB store folder is not created', LIMIT, async (t) => {
  const cluster = await Cluster.start(t, { server: false });
  const dir = tempDir(t);
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const store = join(dir, 'store');
  const { ev, recorder } = cluster.eventor({ store, nats: { servers: url }, config: { logdir: join(dir, 'logs') } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { ...code('record', join(dir, 'runs')), hosts: ['n1'] }));
  ev.triggerEvent(start, 1);
  const error = await errorOf(() => ev.run());
  assert.ok(error instanceof NatsConnectionError, `a NatsConnectionError, not ${String(error)}`);
  assert.ok(error.message.includes(`127.0.0.1:${port}`), error.message);
  assert.equal(existsSync(store), false, 'the store folder was not created');
  assert.deepEqual(recorder.records, []);
  await ev.close();

  // An agent pointed there says so and exits, rather than waiting for ever.
  const agent = cluster.spawn(process.execPath, [CLI, 'agent', '--nats', url, '--host', 'n1', '--root', FIXTURES]);
  const status = await agent.exited;
  assert.equal(status.code, 2, agent.output());
  assert.match(agent.output(), /NatsConnectionError: NATS at .*127\.0\.0\.1:\d+ cannot be reached/);
});

test('a wrong NATS password is a NatsConnectionError whose message does not show the password', LIMIT, async (t) => {
  const right = 'right-secret-8d1f';
  const wrong = 'wrong-secret-5c2a';
  const cluster = await Cluster.start(t, { user: 'eventor', pass: right });
  const dir = tempDir(t);
  // The server does take the right password: an agent with it gets ready.
  await cluster.agent('n1', { flags: ['--user', 'eventor'], env: { EVENTOR_NATS_PASS: right } });
  const { port } = cluster.server!;
  const tries = [
    { name: 'config.nats.pass', nats: { user: 'eventor', pass: wrong } },
    { name: 'a password in the URL', nats: { servers: `nats://eventor:${wrong}@127.0.0.1:${port}` } },
  ];
  for (const { name, nats } of tries) {
    const store = join(dir, `store-${tries.findIndex((entry) => entry.name === name)}`);
    const { ev } = cluster.eventor({ store, nats, config: { logdir: join(dir, 'logs') } });
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('s', { ...code('record', join(dir, 'runs')), hosts: ['n1'] }));
    ev.triggerEvent(start, 1);
    const error = await errorOf(() => ev.run());
    assert.ok(error instanceof NatsConnectionError, `${name}: a NatsConnectionError, not ${String(error)}`);
    assert.match(error.message, /refused the credentials/, `${name}: ${error.message}`);
    assert.ok(!error.message.includes(wrong) && !error.stack?.includes(wrong), `${name}: the password shows in ${error.stack}`);
    assert.equal(existsSync(store), false, `${name}: the store folder was not created`);
    await ev.close();
  }

  const agent = cluster.spawnAgent('n2', { flags: ['--user', 'eventor', '--pass', wrong] });
  const status = await agent.exited;
  assert.equal(status.code, 2, agent.output());
  assert.match(agent.output(), /NatsConnectionError/);
  assert.ok(!agent.output().includes(wrong), `the agent printed the password:\n${agent.output()}`);
});

test('a host whose agent never says hello is an AgentTimeoutError naming it, after agentTimeout', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  await cluster.agent('n1');
  const { ev, recorder } = cluster.eventor({ nats: { agentTimeout: 1 } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { ...code('record', runs), hosts: ['n1', 'ghost'] }));
  ev.triggerEvent(start, 1);
  const began = Date.now();
  const error = await errorOf(() => ev.run());
  const waited = Date.now() - began;
  assert.ok(error instanceof AgentTimeoutError, `an AgentTimeoutError, not ${String(error)}`);
  assert.deepEqual(error.hosts, ['ghost'], 'only the silent host is named');
  assert.match(error.message, /ghost/);
  assert.doesNotMatch(error.message, /\bn1\b/);
  assert.ok(waited >= 900 && waited < 10_000, `it waited about agentTimeout (1 s), not ${waited} ms`);
  assert.deepEqual(recorder.records, [], 'no task started');
  assert.deepEqual(linesOf(runs), [], 'nothing ran on n1');
  await ev.close();
});

test("a module outside the agent's root, by ../ or by a symbolic link, is a StepCodeError naming host and module, and nothing runs", LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const root = join(dir, 'root');
  mkdirSync(root);
  const imported = join(dir, 'imported');
  const ran = join(dir, 'ran');
  // Importing it, let alone running it, leaves a file behind.
  writeFileSync(join(dir, 'outside.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(imported)}, 'imported');\nexport function fn() { writeFileSync(${JSON.stringify(ran)}, 'ran'); }\n`);
  symlinkSync(join(dir, 'outside.mjs'), join(root, 'link.mjs'));
  await cluster.agent('n1', { root });

  for (const module of ['../outside.mjs', './link.mjs']) {
    const { ev, recorder } = cluster.eventor();
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('escape', { module, export: 'fn', hosts: ['n1'] }));
    ev.triggerEvent(start, 1);
    const error = await errorOf(() => ev.run());
    assert.ok(error instanceof StepCodeError, `${module}: a StepCodeError, not ${String(error)}`);
    assert.match(error.message, /step 'escape'/);
    assert.match(error.message, /host n1/, error.message);
    assert.ok(error.message.includes(`module ${module}`), error.message);
    assert.match(error.message, /RootEscapeError/, error.message);
    assert.deepEqual(recorder.records, [], `${module}: no task started`);
    await ev.close();
  }
  assert.equal(existsSync(imported), false, 'the agent imported a module outside its root');
  assert.equal(existsSync(ran), false, 'the agent ran code outside its root');
});

test('an external trigger from `eventor trigger` and from sendTrigger() reaches a running flow; an unknown event is refused by name', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gate = cluster.gate(join(dir, 'gate'));
  await cluster.agent('n1');
  const { ev, recorder, lines } = cluster.eventor();
  const start = ev.addEvent('start');
  const go = ev.addEvent('go');
  // `hold` keeps the run going until the test opens its gate.
  ev.addAssoc(start, ev.addStep('hold', { ...code('gated', runs, gate), hosts: ['n1'] }));
  ev.addAssoc(go, ev.addStep('after', { ...code('record', runs), hosts: ['n1'] }));
  ev.triggerEvent(start, 1);
  const running = ev.run();
  await until(() => countOf(runs, 'n1 hold/1 start') === 1, 'hold to run', 30_000, () => recorder.describe());
  const runId = ev.runId;

  const cli = cluster.spawn(process.execPath, [CLI, 'trigger', 'go', '--sequence', '1', '--run', runId, '--nats', cluster.url]);
  const cliStatus = await cli.exited;
  assert.equal(cliStatus.code, 0, cli.output());
  assert.match(cli.output(), new RegExp(`triggered go \\(sequence 1\\) in run ${runId}`));
  await sendTrigger({ nats: cluster.url, runId, event: 'go', sequence: 2 });
  await until(() => recorder.sequencesOf('after', 'success').length === 2, 'after/1 and after/2 to succeed', 30_000, () => recorder.describe());

  const refused = await errorOf(() => sendTrigger({ nats: cluster.url, runId, event: 'no_such_event', sequence: 3 }));
  assert.ok(refused instanceof TriggerRefusedError, `a TriggerRefusedError, not ${String(refused)}`);
  assert.match(refused.message, /no_such_event/);
  const unknown = cluster.spawn(process.execPath, [CLI, 'trigger', 'no_such_event', '--sequence', '3', '--run', runId, '--nats', cluster.url]);
  const unknownStatus = await unknown.exited;
  assert.equal(unknownStatus.code, 1, unknown.output());
  assert.match(unknown.output(), /no_such_event/);
  assert.doesNotMatch(unknown.output(), /^triggered/m);

  writeFileSync(gate, '');
  assert.equal(await running, true, recorder.describe());
  assert.deepEqual(recorder.sequencesOf('after', 'success').sort(), ['1', '2']);
  for (const sequence of ['1', '2']) {
    assert.equal(countOf(runs, `n1 after/${sequence} ran`), 1, linesOf(runs).join(' | '));
    assert.ok(lines.some((line) => line.includes(`Triggered from outside: event go, sequence ${sequence}`)), lines.join('\n'));
  }
  assert.equal(linesOf(runs).filter((line) => line.includes('after/3')).length, 0);
  await ev.close();
});

test('SIGTERM drains an agent: its running slow task finishes and succeeds, then the agent exits 0', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gate = cluster.gate(join(dir, 'gate'));
  const agent = await cluster.agent('n1');
  const { ev, recorder } = cluster.eventor();
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('slow', { ...code('gated', runs, gate), hosts: ['n1'] }));
  ev.triggerEvent(start, 1);
  const running = ev.run();
  await until(() => countOf(runs, 'n1 slow/1 start') === 1, 'slow to start', 30_000, () => recorder.describe());

  agent.kill('SIGTERM');
  await agent.waitFor(/eventor agent n1: draining: no new task; 1 running task\(s\) finish first/);
  assert.doesNotMatch(agent.output(), /stopped/, 'the agent stopped with a task running');
  writeFileSync(gate, '');
  assert.equal(await running, true, recorder.describe());
  assert.equal(recorder.find('slow', '1', 'success').host, 'n1');
  assert.equal(countOf(runs, 'n1 slow/1 end'), 1);
  const status = await agent.exited;
  assert.deepEqual(status, { code: 0, signal: null }, agent.output());
  assert.match(agent.output(), /eventor agent n1: stopped/);
  await ev.close();
});
