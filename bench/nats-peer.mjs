// The other process of the cluster rows' bare baselines, with no Eventor in it:
//   node nats-peer.mjs responder URL             answers every request on bench.echo with its data
//   node nats-peer.mjs worker URL CONSUMER N     takes tasks from the durable consumer CONSUMER of the
//                                                stream BENCH_TASKS (N at most unacknowledged), publishes
//                                                a 'started' message and an outcome to BENCH_OUTCOMES (awaiting
//                                                its ack), and acknowledges the task: first for a pinned
//                                                consumer (host_*), after the outcome for a shared one (queue_*),
//                                                as an agent does.
// Prints 'peer NAME ready' on stderr once it listens; SIGTERM drains it and it exits.
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

const [mode, url, name = 'echo', max = '256'] = process.argv.slice(2);
const nc = await connect({ servers: url, name: `bench-peer-${name}` });
const noop = (n) => n;

if (mode === 'responder') {
  nc.subscribe('bench.echo', { callback: (_error, msg) => msg.respond(msg.data) });
  await nc.flush();
} else if (mode === 'worker') {
  const js = jetstream(nc);
  const pinned = name.startsWith('host_');
  const consumer = await js.consumers.get('BENCH_TASKS', name);
  await consumer.consume({
    max_messages: Number(max),
    callback: (msg) => {
      if (pinned) msg.ack();
      // The task's subject ends in its round and number: the outcome's subject ends in the same two tokens.
      const id = msg.subject.split('.').slice(-2).join('.');
      nc.publish(`bench.status.${id}`, msg.data);
      noop(1);
      js.publish(`bench.out.${id}`, msg.data, { msgID: id, timeout: 5000 }).then(
        () => (pinned ? undefined : msg.ack()),
        (error) => process.stderr.write(`peer ${name}: cannot publish an outcome: ${error.message}\n`),
      );
    },
  });
} else {
  throw new Error(`unknown mode ${mode}: give responder or worker`);
}
process.stderr.write(`peer ${name} ready\n`);
process.on('SIGTERM', () => nc.drain().finally(() => process.exit(0)));
