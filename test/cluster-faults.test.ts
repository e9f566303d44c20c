// What a cluster run survives, against a real nats-server and real `eventor agent` processes
// (they run dist/: build first): agents killed mid-task, a NATS restart, a supervisor killed and
// recovered, and garbage on every subject. How often code really ran is counted in the file the
// fixture steps append to (test/fixtures/cluster/steps.mjs), not taken from the supervisor.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';
import { RunMode, StepStatus } from '../src/index.js';
import { encodeMessage, Subjects, token, tryId } from '../src/transport/protocol.js';
import { Cluster, code, countOf, linesOf, until, type Supervised } from './cluster-helpers.js';
import { tempDir } from './helpers.js';
import type { Child } from './nats-harness.js';

const LIMIT = { timeout: 60_000 } as const;
const SUPERVISOR = fileURLToPath(new URL('./fixtures/cluster/supervisor.mjs', import.meta.url));
const subjects = new Subjects('eventor');

test('an agent killed with SIGKILL mid queue task: the task finishes on the other agent after the ack wait, and its success is recorded once', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gate = cluster.gate(join(dir, 'gate'));
  const agents: Record<string, Child> = {};
  [agents.n1, agents.n2] = await Promise.all([cluster.agent('n1', { queues: ['work'] }), cluster.agent('n2', { queues: ['work'] })]);
  const { ev, recorder } = cluster.eventor({ nats: { ackWait: 2 } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('q', { ...code('gated', runs, gate), queue: 'work' }));
  ev.triggerEvent(start, 1);
  const running = ev.run();

  await until(() => linesOf(runs).some((line) => line.endsWith(' q/1 start')), 'q/1 to start on an agent', 30_000, () => recorder.describe());
  const first = linesOf(runs)[0].split(' ')[0];
  const other = first === 'n1' ? 'n2' : 'n1';
  agents[first].kill('SIGKILL');
  assert.equal((await agents[first].exited).signal, 'SIGKILL');
  // Only now may the task end, and only where it is redelivered.
  writeFileSync(gate, '');
  assert.equal(await running, true, recorder.describe());

  assert.deepEqual(recorder.statuses('q', '1').filter((status) => status === 'success'), ['success'], recorder.describe());
  assert.deepEqual(recorder.statuses('q', '1').filter((status) => status === 'failure'), [], recorder.describe());
  assert.equal(recorder.find('q', '1', 'success').host, other, 'the success is the other agent\'s');
  assert.deepEqual(linesOf(runs).sort(), [`${first} q/1 start`, `${other} q/1 end`, `${other} q/1 start`].sort(), 'it started on the killed agent, then ran to its end once on the other');
  await ev.close();
});

test('an agent killed with SIGKILL mid host-pinned task: the task fails with AgentLostError, and a recovery with the agent back finishes it', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gate = cluster.gate(join(dir, 'gate'));
  const store = join(dir, 'store');
  const flow = (runMode: RunMode): Supervised => {
    const supervised = cluster.eventor({ name: 'lost', store, runMode, nats: { lostAfter: 1 }, config: { logdir: join(dir, 'logs') } });
    const { ev } = supervised;
    const start = ev.addEvent('start');
    const done = ev.addEvent('h_done');
    ev.addAssoc(start, ev.addStep('h', { ...code('gated', runs, gate), hosts: ['n1'], triggers: { [StepStatus.success]: [done] } }));
    ev.addAssoc(done, ev.addStep('after', { ...code('record', runs), hosts: ['n1'] }));
    ev.triggerEvent(start, 1);
    return supervised;
  };

  const agent = await cluster.agent('n1', { heartbeat: 0.2 });
  const first = flow(RunMode.restart);
  const running = first.ev.run();
  await until(() => countOf(runs, 'n1 h/1 start') === 1, 'h/1 to start on n1', 30_000, () => first.recorder.describe());
  const killedAt = Date.now();
  agent.kill('SIGKILL');
  assert.equal(await running, false, 'the run fails: its task was lost');
  const failure = first.recorder.find('h', '1', 'failure');
  const lostIn = failure.at - killedAt;
  assert.equal(failure.error?.name, 'AgentLostError', JSON.stringify(failure.error));
  assert.match(failure.error?.message ?? '', /agent n1/);
  assert.ok(lostIn >= 500 && lostIn < 6_000, `lost after max(lostAfter 1 s, 3 × 0.2 s), not ${lostIn} ms`);
  assert.ok(first.lines.some((line) => /\[ WARN \]\[ Agent n1 missed its heartbeats/.test(line)), first.lines.join('\n'));
  assert.equal(first.recorder.runs('after'), 0);
  await first.ev.close();

  await cluster.agent('n1', { heartbeat: 0.2 });
  writeFileSync(gate, '');
  const second = flow(RunMode.recover);
  assert.equal(await second.ev.run(), true, second.recorder.describe());
  assert.equal(second.recorder.find('h', '1', 'success').host, 'n1');
  assert.equal(second.recorder.find('after', '1', 'success').host, 'n1');
  assert.deepEqual(linesOf(runs), ['n1 h/1 start', 'n1 h/1 start', 'n1 h/1 end', 'n1 after/1 ran'], 'h ran again in the recovery only, after once');
  await second.ev.close();
});

test('nats-server stopped and restarted mid-run: the run finishes with every task a success, none lost and none run twice', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gate = cluster.gate(join(dir, 'gate'));
  await Promise.all([cluster.agent('n1', { queues: ['work'] }), cluster.agent('n2', { queues: ['work'] })]);
  const { ev, recorder, lines } = cluster.eventor();
  const start = ev.addEvent('start');
  const done = ev.addEvent('a_done');
  ev.addAssoc(start, ev.addStep('a', { ...code('gated', runs, gate), hosts: ['n1', 'n2'], triggers: { [StepStatus.success]: [done] } }));
  ev.addAssoc(done, ev.addStep('b', { ...code('record', runs), queue: 'work' }));
  const sequences = ['1', '2', '3'];
  for (const sequence of sequences) ev.triggerEvent(start, sequence);
  const running = ev.run();

  const count = (suffix: string) => linesOf(runs).filter((line) => line.endsWith(suffix)).length;
  await until(() => count(' start') === 6, 'a to start on both hosts for 3 sequences', 30_000, () => linesOf(runs).join(' | '));
  await cluster.server!.stop();
  // The agents finish their code while NATS is away; their outcomes must wait for it.
  writeFileSync(gate, '');
  await until(() => count(' end') === 6, 'a to end on both hosts', 30_000, () => linesOf(runs).join(' | '));
  await cluster.server!.restart();
  assert.equal(await running, true, recorder.describe());

  for (const sequence of sequences) {
    for (const step of ['a@n1', 'a@n2', 'b']) {
      const statuses = recorder.statuses(step, sequence);
      assert.equal(statuses.filter((status) => status === 'success').length, 1, `${step}/${sequence}: ${statuses.join(' ')}`);
      assert.equal(statuses.filter((status) => status === 'failure').length, 0, `${step}/${sequence}: ${statuses.join(' ')}`);
      assert.equal(recorder.runs(step, sequence), 1, `${step}/${sequence} started once: ${statuses.join(' ')}`);
    }
    for (const host of ['n1', 'n2']) {
      assert.equal(countOf(runs, `${host} a@${host}/${sequence} start`), 1);
      assert.equal(countOf(runs, `${host} a@${host}/${sequence} end`), 1);
    }
    assert.equal(count(` b/${sequence} ran`), 1, linesOf(runs).join(' | '));
  }
  assert.ok(lines.some((line) => line.includes('Lost the connection to NATS')), lines.join('\n'));
  assert.ok(lines.some((line) => line.includes('Reconnected to NATS')), lines.join('\n'));
  await ev.close();
});

test('a supervisor killed with SIGKILL mid-run and recovered collects the tasks that finished meanwhile and awaits the one still running: none runs twice', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gates = join(dir, 'gates');
  const store = join(dir, 'store');
  mkdirSync(gates);
  await cluster.agent('n1');
  const nc = await connect({ servers: cluster.url });
  cluster.closeFirst(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const supervisor = (mode: 'restart' | 'recover') => cluster.spawn(process.execPath, [SUPERVISOR, mode, store, cluster.url, runs, gates], { cwd: dir });

  const killed = supervisor('restart');
  await until(() => ['quick/1', 'quick/2', 'long/1'].every((task) => countOf(runs, `n1 ${task} start`) === 1), 'quick/1, quick/2 and long/1 to start on n1', 30_000, () => `${linesOf(runs).join(' | ')}\n${killed.output()}`);
  killed.kill('SIGKILL');
  assert.equal((await killed.exited).signal, 'SIGKILL');

  // While no supervisor runs, both quick tasks finish; their outcomes wait in the outcomes stream.
  writeFileSync(join(gates, 'quick'), '');
  await until(async () => (await jsm.streams.info(subjects.outcomesStream)).state.messages >= 2, 'the outcomes of quick/1 and quick/2 in the stream', 30_000, () => linesOf(runs).join(' | '));
  assert.deepEqual(linesOf(runs).filter((line) => line.endsWith(' end')).sort(), ['n1 quick/1 end', 'n1 quick/2 end']);

  const recovered = supervisor('recover');
  await recovered.waitFor(/Of 3 task\(s\) that were active on agents: 2 finished meanwhile \(outcome collected\), 1 still run \(awaited\), 0 run again/, 30_000);
  writeFileSync(join(gates, 'long'), '');
  const status = await recovered.exited;
  assert.equal(status.code, 0, recovered.output());
  assert.match(recovered.output(), /^run ok$/m);
  for (const sequence of ['1', '2']) assert.match(recovered.output(), new RegExp(`Step quick/${sequence} \\] Finished on n1 while the supervisor was down`));
  assert.match(recovered.output(), /Step long\/1 \] Still running on an agent from before the supervisor stopped: awaited, not sent again/);

  const expected = ['n1 quick/1 start', 'n1 quick/1 end', 'n1 quick/2 start', 'n1 quick/2 end', 'n1 long/1 start', 'n1 long/1 end', 'n1 after/1 ran', 'n1 after/2 ran'];
  for (const line of expected) assert.equal(countOf(runs, line), 1, `${line} once: ${linesOf(runs).join(' | ')}`);
  assert.equal(linesOf(runs).length, expected.length, linesOf(runs).join(' | '));
});

/** Bytes that are not a message, the same on every run of the test. */
function noise(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = 0x2545f491;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

test('garbage on every subject mid-run (protocol version 99, random bytes, a truncated message) is dropped with a line naming the subject: the run succeeds and the agent serves later tasks', LIMIT, async (t) => {
  const cluster = await Cluster.start(t);
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const gate = cluster.gate(join(dir, 'gate'));
  const agent = await cluster.agent('n1', { queues: ['work'] });
  const { ev, recorder, lines } = cluster.eventor();
  const start = ev.addEvent('start');
  const held = ev.addEvent('held');
  ev.addAssoc(start, ev.addStep('hold', { ...code('gated', runs, gate), hosts: ['n1'], triggers: { [StepStatus.success]: [held] } }));
  ev.addAssoc(held, ev.addStep('later_host', { ...code('record', runs), hosts: ['n1'] }), ev.addStep('later_queue', { ...code('record', runs), queue: 'work' }));
  ev.triggerEvent(start, 1);
  const running = ev.run();
  await until(() => countOf(runs, 'n1 hold/1 start') === 1, 'hold to start on n1', 30_000, () => recorder.describe());

  const nc = await connect({ servers: cluster.url });
  cluster.closeFirst(() => nc.close());
  const js = jetstream(nc);
  const { runId } = ev;
  const at = Date.now();
  // A garbage task, if an agent took it, would leave `garbage_task` lines in the runs file.
  const task = { kind: 'task', id: 'garbage', runId, recovery: 0, sequence: '9', step: { name: 'garbage_task', module: './steps.mjs', export: 'record', args: [runs], executor: 'inline' }, envvarPrefix: 'EVENTOR_', killGraceMs: 1000 };
  // Each subject with a message of the kind its listener expects, so that only the version, or the damage, is wrong.
  const supervisorSubjects: [string, Record<string, unknown>][] = [
    [subjects.beat('n1'), { kind: 'beat', state: 'heartbeat', host: 'n1', queues: ['work'], maxConcurrent: 8, interval: 1, running: [], at }],
    [`${subjects.outcome(runId)}.garbage`, { kind: 'outcome', id: tryId(runId, 0, 'hold', '1', 1), runId, host: 'n1', ok: true, result: 'forged', at }],
    [subjects.started(runId), { kind: 'started', id: tryId(runId, 0, 'hold', '1', 1), runId, host: 'n9', at }],
    [subjects.log(runId), { kind: 'log', id: 'garbage', runId, step: 'hold', sequence: '1', host: 'n1', level: 'info', message: 'forged log line' }],
    [subjects.trigger(runId), { kind: 'trigger', event: 'start', sequence: '9' }],
  ];
  const agentSubjects: [string, Record<string, unknown>][] = [
    [subjects.ping, { kind: 'ping' }],
    [subjects.check('n1'), { kind: 'check', steps: [] }],
    [subjects.cancel, { kind: 'cancel', id: tryId(runId, 0, 'hold', '1', 1), reason: 'forged', timeout: false }],
    [`eventor.tasks.host.${token('n1')}.garbage`, { ...task, host: 'n1' }],
    [`eventor.tasks.queue.${token('work')}.garbage`, { ...task, queue: 'work' }],
  ];
  const packr = new Packr({ useRecords: false, moreTypes: true });
  for (const [subject, message] of [...supervisorSubjects, ...agentSubjects]) {
    const valid = encodeMessage(message as never);
    const garbage = [packr.pack({ ...message, v: 99 }), noise(64), valid.subarray(0, Math.floor(valid.length / 2))];
    for (const data of garbage) {
      if (subject.startsWith('eventor.tasks.')) await js.publish(subject, data);
      else nc.publish(subject, data);
    }
  }
  await nc.flush();

  const dropped = (output: string[], subject: string) => output.filter((line) => line.includes(`dropped a message on ${subject} `) || line.includes(`dropped a message on ${subject}:`)).length;
  const agentLines = () => agent.output().split('\n');
  const missing = (which: 'all' | 'but ping') => [
    ...supervisorSubjects.filter(([subject]) => dropped(lines, subject) < 3).map(([subject]) => `supervisor: ${subject} (${dropped(lines, subject)} of 3)`),
    ...agentSubjects.filter(([subject]) => (which === 'all' || subject !== subjects.ping) && dropped(agentLines(), subject) < 3).map(([subject]) => `agent: ${subject} (${dropped(agentLines(), subject)} of 3)`),
  ];
  const outputs = () => `supervisor:\n${lines.join('\n')}\nagent:\n${agent.output()}`;
  // The ping subject is checked last, once the run is over, so that what else the test shows is shown either way.
  await until(() => missing('but ping').length === 0, 'a dropped line for each garbage message', 15_000, () => `missing: ${missing('but ping').join(', ')}\n${outputs()}`);
  for (const [subject] of supervisorSubjects) {
    assert.equal(dropped(lines, subject), 3, `one line per message on ${subject}`);
    assert.ok(lines.filter((line) => line.includes(`dropped a message on ${subject}`)).every((line) => line.includes('][ WARN ][')), `WARN lines for ${subject}`);
  }
  for (const [subject] of agentSubjects) if (subject !== subjects.ping) assert.equal(dropped(agentLines(), subject), 3, `one line per message on ${subject}`);
  assert.ok(lines.some((line) => line.includes(`dropped a message on ${subjects.beat('n1')} of protocol version 99`)), lines.join('\n'));

  writeFileSync(gate, '');
  assert.equal(await running, true, recorder.describe());
  assert.equal(recorder.find('hold', '1', 'success').host, 'n1');
  assert.deepEqual(recorder.find('hold', '1', 'success').result, { host: 'n1', step: 'hold', sequence: '1' }, 'the forged outcome was not taken');
  assert.equal(recorder.find('later_host', '1', 'success').host, 'n1');
  assert.equal(recorder.find('later_queue', '1', 'success').host, 'n1');
  assert.deepEqual(linesOf(runs).slice(0, 2), ['n1 hold/1 start', 'n1 hold/1 end'], linesOf(runs).join(' | '));
  assert.deepEqual(linesOf(runs).slice(2).sort(), ['n1 later_host/1 ran', 'n1 later_queue/1 ran'], 'no garbage task ran, and the later tasks ran once');
  assert.equal(recorder.of('hold', '9').length, 0, 'the garbage trigger started nothing');
  assert.ok(!lines.some((line) => line.includes('forged log line')), 'the forged log line was not relayed');
  await ev.close();
  assert.deepEqual(missing('all'), [], `every garbage message was dropped with a line naming its subject\n${outputs()}`);
});
