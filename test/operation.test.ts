// Operations of linear tasks (kser's sequencing): Result merging, the build and its checks,
// a chain of tasks on the runtime, recovery, and Producer/Consumer over a real nats-server.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { Operation, OperationRegistry, OperationStatus, Result, Task, UnknownEntrypointError } from '../src/dialects/operation.js';
import { TransportError, ValidationError } from '../src/model/errors.js';
import { NatsStore } from '../src/store/nats-store.js';
import { Consumer, Message, Producer, type ConsumerOptions, type OperationReply } from '../src/transport/operation-queue.js';
import { eventor, root } from './cli-helpers.js';
import { LIMIT, tempDir } from './helpers.js';
import { NatsServer, spawnProcess } from './nats-harness.js';
import { Recoverable, recoverableRegistry } from './fixtures/operation/recoverable.js';

const quiet = { logging: { console: false } } as const;

/** Console lines a sink collected, for assertions on what was logged. */
function lines(): { sink: (line: string) => void; text: () => string } {
  const collected: string[] = [];
  return { sink: (line) => collected.push(line), text: () => collected.join('\n') };
}

/** A die: its roll number comes in params; its retval says who rolled it and how many rolls it was forwarded. */
class DiceRoll extends Task {
  static override entrypoint = 'DiceRoll';
  consumer = 'local';

  override run(previous: Result): Result {
    const launch = 1 + Math.floor(Math.random() * 6);
    const forwarded = Object.keys(previous.retval).filter((key) => key.startsWith('roll')).length;
    return new Result({ uuid: this.uuid, stdout: `You made a ${launch}`, retval: { [`roll${this.params.roll}`]: { launch, consumer: this.consumer, forwarded } } });
  }
}

/** A die that always fails with its code. */
class LoadedDie extends Task {
  override run(): Result {
    return new Result({ retcode: 3, stderr: 'the die is loaded' });
  }
}

/** Three rolls; `loadedAt` makes that roll fail with code 3. */
class DiceLaunch extends Operation {
  override buildTasks(params: Record<string, unknown>): Task[] {
    return [1, 2, 3].map((roll) => (roll === params.loadedAt ? new LoadedDie() : new DiceRoll({ params: { roll } })));
  }
}

/** A registry whose DiceRoll says which consumer rolled it. */
function diceRegistry(consumer: string): OperationRegistry {
  const registry = new OperationRegistry();
  registry.subscribe(
    class DiceRollOn extends DiceRoll {
      override consumer = consumer;
    },
  );
  registry.subscribe(LoadedDie);
  registry.subscribe(DiceLaunch);
  return registry;
}

/** A consumer closed when the test ends. */
async function startConsumer(t: TestContext, options: ConsumerOptions): Promise<Consumer> {
  const consumer = await Consumer.start(options);
  t.after(() => consumer.close());
  return consumer;
}

async function connectProducer(t: TestContext, url: string): Promise<Producer> {
  const producer = await Producer.connect({ nats: url, logging: { console: false } });
  t.after(() => producer.close());
  return producer;
}

test('Result merging: the highest code wins, retvals merge, a non-empty stdout or stderr replaces the earlier', () => {
  const first = new Result({ uuid: 'op', retcode: 2, stdout: 'one', stderr: 'warned', retval: { a: 1, b: 1 } });
  const merged = first.merge(new Result({ retcode: 1, stdout: 'two', retval: { b: 2, c: 3 } }));
  assert.deepEqual(merged.toJSON(), { uuid: 'op', retcode: 2, stdout: 'two', stderr: 'warned', retval: { a: 1, b: 2, c: 3 } });
  assert.equal(merged.merge(new Result({ retcode: 7, stderr: 'broke' })).retcode, 7);
  assert.equal(merged.merge(new Result({ retcode: 7, stderr: 'broke' })).stderr, 'broke');
  assert.deepEqual(first.retval, { a: 1, b: 1 }, 'merging leaves both results as they were');
  assert.throws(() => new Result({ retcode: 1.5 }), /retcode/);
});

test('an operation runs its tasks in order, each receiving the results so far', LIMIT, async () => {
  const operation = new DiceLaunch({ store: ':memory:', config: quiet });
  const result = await operation.build({}).launch();
  assert.equal(operation.status, OperationStatus.SUCCESS);
  assert.equal(result.retcode, 0);
  assert.equal(result.uuid, operation.uuid);
  assert.match(result.stdout, /^You made a [1-6]$/);
  assert.deepEqual([1, 2, 3].map((roll) => (result.retval[`roll${roll}`] as { forwarded: number }).forwarded), [0, 1, 2]);
  assert.deepEqual(operation.tasks.map((task) => task.status), ['SUCCESS', 'SUCCESS', 'SUCCESS']);
  assert.equal(await operation.run(), true, 'launched again (same uuid, a store that keeps nothing) it runs again and succeeds');
});

test('a task returning a non-zero code stops the operation FAILED with that code', LIMIT, async () => {
  const operation = new DiceLaunch({ store: ':memory:', config: quiet });
  const result = await operation.build({ loadedAt: 2 }).launch();
  assert.equal(operation.status, OperationStatus.FAILED);
  assert.equal(result.retcode, 3);
  assert.equal(result.stderr, 'the die is loaded');
  assert.ok(result.retval.roll1, 'the first roll is in the result');
  assert.equal(result.retval.roll3, undefined, 'the third roll never ran');
  assert.deepEqual(operation.tasks.map((task) => task.status), ['SUCCESS', 'FAILED', 'PENDING']);
});

test('a task that throws stops the operation with code 500 and the error in stderr', LIMIT, async () => {
  let after = 0;
  class Boom extends Task {
    override run(): Result {
      throw new RangeError('math domain error');
    }
  }
  class After extends Task {
    override run(): Result {
      after++;
      return new Result();
    }
  }
  class Throwing extends Operation {
    override buildTasks(): Task[] {
      return [new Boom(), new After()];
    }
  }
  const operation = new Throwing({ store: ':memory:', config: quiet });
  const result = await operation.launch();
  assert.equal(operation.status, OperationStatus.FAILED);
  assert.equal(result.retcode, 500);
  assert.equal(result.stderr, 'RangeError: math domain error');
  assert.equal(after, 0);
  assert.equal(await new Throwing({ store: ':memory:', config: quiet }).run(), false, 'run() (what eventor run calls) resolves false');
});

test('required fields of an operation and of its tasks are checked at build, naming the field', () => {
  class NeedsHost extends Task {
    static override requiredFields = ['host'];
  }
  class Deploy extends Operation {
    static override requiredFields = ['version'];
    override buildTasks(): Task[] {
      return [new NeedsHost()];
    }
  }
  assert.throws(() => new Deploy().build({ host: 'h1' }), (error: unknown) => error instanceof ValidationError && /requires param 'version'/.test(error.message) && /Deploy\[/.test(error.message));
  assert.throws(() => new Deploy().build({ version: '1.2' }), (error: unknown) => error instanceof ValidationError && /NeedsHost\[.*requires param 'host'/.test(error.message));
  const built = new Deploy().build({ version: '1.2', host: 'h1' });
  assert.deepEqual(built.tasks[0].params, { version: '1.2', host: 'h1' }, "a task sees the operation's params under its own");
});

test('prebuild, computeTasks and finalize run in order at build', () => {
  const calls: string[] = [];
  class Hooked extends Operation {
    override prebuild(params: Record<string, unknown>) {
      calls.push('prebuild');
      return { ...params, extra: true };
    }
    override buildTasks(params: Record<string, unknown>): Task[] {
      calls.push(`buildTasks extra=${String(params.extra)}`);
      return [new Task()];
    }
    override finalize(): this {
      calls.push('finalize');
      return this;
    }
  }
  new Hooked().build({ a: 1 });
  assert.deepEqual(calls, ['prebuild', 'buildTasks extra=true', 'finalize']);
});

test('an empty operation succeeds with nothing to do, and launch() says so', LIMIT, async () => {
  const log = lines();
  const operation = new Operation({ store: ':memory:', config: quiet });
  operation.logger = { name: 'test', enabled: () => true, debug: log.sink, info: log.sink, warn: log.sink, error: log.sink, child: () => operation.logger! };
  const result = await operation.launch();
  assert.equal(operation.status, OperationStatus.SUCCESS);
  assert.equal(result.retcode, 0);
  assert.match(result.stdout, /nothing to do/);
  assert.match(log.text(), /^Operation\.SUCCESS: Operation\[.+\]: nothing to do/);
});

test('task.log prefixes {TaskName}.{Status}: {entrypoint}[{uuid}]:', () => {
  const log = lines();
  const task = new DiceRoll({ uuid: 'u-1' });
  task.logger = { name: 'test', enabled: () => true, debug: log.sink, info: log.sink, warn: log.sink, error: log.sink, child: () => task.logger! };
  task.log('hello');
  task.status = OperationStatus.SUCCESS;
  task.log('rolled');
  assert.equal(log.text(), 'DiceRoll.PENDING: DiceRoll[u-1]: hello\nDiceRoll.SUCCESS: DiceRoll[u-1]: rolled');
});

test('launched again with its uuid, a failed operation skips the tasks that succeeded and forwards their stored results', LIMIT, async (t) => {
  const store = join(tempDir(t), 'store');
  const counter = join(tempDir(t), 'counter');
  let fail = true;
  class Flaky extends Task {
    override run(previous: Result): Result {
      if (fail) return new Result({ retcode: 4, stderr: 'not yet' });
      return new Result({ stdout: 'flaky passed', retval: { sawToken: previous.retval.token } });
    }
  }
  class Retried extends Operation {
    override buildTasks(params: Record<string, unknown>): Task[] {
      const prepare = new (class Prepare extends Task {
        override run(): Result {
          writeFileSync(counter, `${existsSync(counter) ? readFileSync(counter, 'utf8') : ''}x`);
          return new Result({ stdout: 'prepared', retval: { token: params.token } });
        }
      })();
      return [prepare, new Flaky()];
    }
  }
  const first = new Retried({ store, config: quiet });
  const failed = await first.build({ token: 'first' }).launch();
  assert.equal(failed.retcode, 4);
  fail = false;
  const again = new Retried({ uuid: first.uuid, store, config: quiet });
  const result = await again.build({ token: 'second' }).launch();
  assert.equal(again.status, OperationStatus.SUCCESS);
  assert.equal(readFileSync(counter, 'utf8'), 'x', 'Prepare ran once');
  assert.equal(result.retval.sawToken, 'first', "Flaky got Prepare's stored result, not a new one");
  assert.equal(again.tasks[0].status, OperationStatus.SUCCESS);
  assert.equal(again.runId, first.uuid);
});

test("the dice game through nats-server: two consumers share the tasks, and every task's result is forwarded", LIMIT, async (t) => {
  const server = await NatsServer.start(t);
  const store = `${server.url}/dice`;
  for (const name of ['c1', 'c2']) await startConsumer(t, { nats: server.url, registry: diceRegistry(name), name, store, config: quiet, logging: { console: false } });
  const producer = await connectProducer(t, server.url);
  // Eight operations of three tasks: 32 messages that the queue group spreads at random.
  const replies = await Promise.all(Array.from({ length: 8 }, () => producer.request(new Message({ entrypoint: 'DiceLaunch' }))));
  const rolledBy = new Set<string>();
  for (const reply of replies) {
    assert.equal(reply.error, undefined);
    assert.equal(reply.result.retcode, 0, reply.result.stderr);
    assert.match(reply.result.stdout, /^You made a [1-6]$/);
    for (const [roll, forwarded] of [['roll1', 0], ['roll2', 1], ['roll3', 2]] as const) {
      const value = reply.result.retval[roll] as { launch: number; consumer: string; forwarded: number };
      assert.ok(value.launch >= 1 && value.launch <= 6);
      assert.equal(value.forwarded, forwarded, `${roll} received the results of the rolls before it`);
      rolledBy.add(value.consumer);
    }
    rolledBy.add(reply.consumer);
  }
  assert.deepEqual([...rolledBy].sort(), ['c1', 'c2'], 'tasks ran on both consumers');
  // Each operation is a run in its own bucket of the NATS store, as a recovery would find it.
  const kept = new NatsStore(`${store}-${replies[0].uuid}`);
  await kept.open();
  try {
    const [run] = await kept.listRuns();
    assert.equal(run.runId, replies[0].uuid);
    assert.equal(run.status, 'success');
    assert.equal(run.counts.success, 3);
  } finally {
    await kept.close();
  }

  const failed = await producer.request(new Message({ entrypoint: 'DiceLaunch', params: { loadedAt: 2 } }));
  assert.equal(failed.result.retcode, 3);
  assert.equal(failed.result.stderr, 'the die is loaded');
  assert.ok(failed.result.retval.roll1);
  assert.equal(failed.result.retval.roll3, undefined);
});

test('a consumer killed mid-operation leaves it to another, which skips what succeeded and forwards its result', LIMIT, async (t) => {
  const server = await NatsServer.start(t);
  const folder = tempDir(t);
  const store = join(folder, 'operations');
  const counter = join(folder, 'counter');
  const child = spawnProcess(t, process.execPath, ['--import', 'tsx', join(root, 'test/fixtures/operation/consumer.ts'), server.url, store, 'doomed'], { cwd: root });
  await child.waitFor(/CONSUMER doomed READY/);
  const producer = await connectProducer(t, server.url);
  const message = new Message({ entrypoint: 'Recoverable', params: { counter, token: 'first', hang: true } });
  await producer.send(message);
  await child.waitFor(/HANG .+ running/);
  child.kill('SIGKILL');
  await child.exited;
  assert.equal(readFileSync(counter, 'utf8'), 'prepare\n');

  const log = lines();
  await startConsumer(t, { nats: server.url, registry: recoverableRegistry(), name: 'heir', store, logSink: log.sink, config: { logging: { console: false } } });
  const reply = await producer.request(new Message({ uuid: message.uuid, entrypoint: 'Recoverable', params: { counter, token: 'second', hang: false } }));
  assert.equal(reply.result.retcode, 0, reply.result.stderr);
  assert.equal(reply.result.stdout, 'finished');
  assert.equal(reply.result.retval.sawToken, 'first', "Hang received Prepare's stored result");
  assert.equal(reply.result.retval.finishedAfter, 'went on');
  assert.equal(readFileSync(counter, 'utf8'), 'prepare\nhang\n', 'Prepare was skipped, not run again');
  assert.match(log.text(), /Prepare\.SUCCESS: Prepare\[.+\]: skipped: it succeeded before, its result is forwarded/);
  assert.ok(Recoverable.requiredFields.includes('counter'));
});

test('a message that does not decode is dropped with a line naming the subject; an unknown entrypoint gets a named error', LIMIT, async (t) => {
  const server = await NatsServer.start(t);
  const log = lines();
  const consumer = await startConsumer(t, { nats: server.url, registry: diceRegistry('c1'), name: 'c1', store: ':memory:', logSink: log.sink, config: quiet });
  const nc = await connect({ servers: server.url });
  t.after(() => nc.close());
  nc.publish(consumer.subject, new Uint8Array([0xc1, 0xff, 0x00]));
  nc.publish(consumer.subject, new TextEncoder().encode('not msgpack at all'));
  await nc.flush();
  const producer = await connectProducer(t, server.url);
  const unknown: OperationReply = await producer.request(new Message({ entrypoint: 'NoSuchTask' }));
  assert.equal(unknown.error?.name, 'UnknownEntrypointError');
  assert.equal(unknown.result.retcode, new UnknownEntrypointError('x', []).retcode);
  assert.match(unknown.result.stderr, /no task or operation 'NoSuchTask' is subscribed/);
  const after = await producer.request(new Message({ entrypoint: 'DiceLaunch', params: { loadedAt: 1 } }));
  assert.equal(after.result.retcode, 3, 'the consumer went on serving');
  assert.match(log.text(), new RegExp(`dropped a message on ${consumer.subject.replace(/\./g, '\\.')} that does not decode`));
  const elsewhere = await Producer.connect({ nats: server.url, topic: 'nobody-serves-this', logging: { console: false } });
  t.after(() => elsewhere.close());
  await assert.rejects(elsewhere.request(new Message({ entrypoint: 'DiceLaunch' })), (error: unknown) => error instanceof TransportError && /no consumer serves it/.test(error.message));
  assert.match(log.text(), /Consumer\.FAILED: NoSuchTask\[.+\]: UnknownEntrypointError: no task or operation 'NoSuchTask'/);
});

test('a message for a task runs that task alone, with the result forwarded to it', LIMIT, async (t) => {
  const server = await NatsServer.start(t);
  await startConsumer(t, { nats: server.url, registry: diceRegistry('c1'), name: 'c1', store: ':memory:', config: quiet, logging: { console: false } });
  const producer = await connectProducer(t, server.url);
  const reply = await producer.request(new Message({ uuid: 'task-1', entrypoint: 'DiceRoll', params: { roll: 9 }, result: { retval: { roll1: 'earlier' } } }));
  assert.equal(reply.result.uuid, 'task-1');
  assert.deepEqual((reply.result.retval.roll9 as { forwarded: number; consumer: string }).forwarded, 1);
  assert.equal(reply.consumer, 'c1');
});

test('eventor run runs an operation file, and exits 1 when a task fails', LIMIT, (t) => {
  const store = join(tempDir(t), 'store');
  const { code, stderr } = eventor('run', 'test/fixtures/operation/dice-cli.mjs', '--store', store);
  assert.equal(code, 0, stderr);
  assert.equal(stderr.match(/DiceRoll\.SUCCESS: DiceRoll\[[^\]]+\]: You made a [1-6]/g)?.length, 3, stderr);
  assert.match(stderr, /DiceLaunch\.SUCCESS: DiceLaunch\[[^\]]+\]: finished: You made a [1-6]/);
  const runs = eventor('runs', '--store', store);
  assert.equal(runs.code, 0, runs.stderr);
  assert.match(runs.stdout, /DiceLaunch/);
  assert.match(runs.stdout, /success/);

  process.env.DICE_LOADED_AT = '2';
  t.after(() => delete process.env.DICE_LOADED_AT);
  const failed = eventor('run', 'test/fixtures/operation/dice-cli.mjs', '--store', store);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /Loaded\.FAILED: Loaded\[[^\]]+\]: the die is loaded \(code 3\)/);
  const firstRoll = /DiceRoll\.SUCCESS: DiceRoll\[([^\]]+)\]: (You made a [1-6])/.exec(failed.stderr);
  assert.ok(firstRoll, failed.stderr);

  const recovered = eventor('recover', 'test/fixtures/operation/dice-cli.mjs', '--store', store);
  assert.equal(recovered.code, 1, 'the loaded die fails again');
  assert.match(recovered.stderr, new RegExp(`DiceRoll\\.SUCCESS: DiceRoll\\[${firstRoll[1]}\\]: skipped: it succeeded before, its result is forwarded \\(${firstRoll[2]}\\)`));
  assert.match(recovered.stderr, /Recovering \(recovery 1\) run/);
});
