// The NATS harness itself, against a real nats-server: the transport tests rely on it starting,
// restarting without losing JetStream state, and enforcing credentials.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { NatsServer } from './nats-harness.js';

const LIMIT = { timeout: 60_000 } as const;

/** A client closed when the test ends too, so that a failed assertion does not leave it reconnecting and the file hanging. */
async function client(t: TestContext, options: NodeConnectionOptions): Promise<NatsConnection> {
  const nc = await connect({ reconnect: false, ...options });
  t.after(() => nc.close());
  return nc;
}

test('a started server answers a request/reply round trip', LIMIT, async (t) => {
  const server = await NatsServer.start(t);
  assert.equal(server.url, `nats://127.0.0.1:${server.port}`);
  assert.ok(server.pid > 0);
  const nc = await client(t, { servers: server.url });
  nc.subscribe('echo', {
    callback: (_error, msg) => {
      msg.respond(`echo: ${msg.string()}`);
    },
  });
  await nc.flush();
  const reply = await nc.request('echo', 'hello', { timeout: 5_000 });
  assert.equal(reply.string(), 'echo: hello');
  await nc.close();
});

test('restart keeps JetStream streams and their messages', LIMIT, async (t) => {
  const server = await NatsServer.start(t);
  const before = await client(t, { servers: server.url });
  const jsm = await jetstreamManager(before);
  await jsm.streams.add({ name: 'T', subjects: ['t.>'] });
  await jetstream(before).publish('t.one', 'kept');
  await before.close();
  const pid = server.pid;

  await server.restart();
  assert.notEqual(server.pid, pid, 'restart() should start a new process');
  const after = await client(t, { servers: server.url });
  const info = await (await jetstreamManager(after)).streams.info('T');
  assert.deepEqual(info.config.subjects, ['t.>']);
  assert.equal(info.state.messages, 1, server.output());
  await after.close();
});

test('a server with user/pass refuses clients without them', LIMIT, async (t) => {
  const server = await NatsServer.start(t, { user: 'eventor', pass: 's3cret' });
  await assert.rejects(client(t, { servers: server.url }), /authoriz/i);
  await assert.rejects(client(t, { servers: server.url, user: 'eventor', pass: 'wrong' }), /authoriz/i);
  const nc = await client(t, { servers: server.url, user: 'eventor', pass: 's3cret' });
  await nc.flush();
  await nc.close();
});
