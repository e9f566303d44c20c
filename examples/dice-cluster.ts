// The dice game over NATS: two consumers in one queue group share the rolls of each operation,
// and a producer sends the operation and prints what came back.
//   EVENTOR_NATS_URL=nats://127.0.0.1:4222 npx tsx examples/dice-cluster.ts
import { Consumer, Message, OperationRegistry, Producer } from 'eventor';
import { DiceLaunch, DiceRoll } from './dice.js';

const registry = new OperationRegistry();
registry.subscribe(DiceRoll);
registry.subscribe(DiceLaunch);

const nats = process.env.EVENTOR_NATS_URL ?? 'nats://127.0.0.1:4222';
// Each operation keeps its run in its own LevelDB folder under .eventor/operations.
const consumers = await Promise.all(['consumer-1', 'consumer-2'].map((name) => Consumer.start({ nats, registry, name, config: { logging: { console: false } } })));
const producer = await Producer.connect({ nats });
try {
  const reply = await producer.request(new Message({ entrypoint: 'DiceLaunch' }));
  console.log(`${reply.entrypoint}[${reply.uuid}] ran on ${reply.consumer}: retcode ${reply.result.retcode}, ${reply.result.stdout}, rolls ${JSON.stringify(reply.result.retval)}`);
} finally {
  await producer.close();
  for (const consumer of consumers) await consumer.close();
}
