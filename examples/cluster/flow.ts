// A nightly job across two hosts: `extract` runs on node1 and on node2 (one task per host),
// `transform` goes through the work queue `nightly` to whichever agent is free, and `publish`
// runs on node1 once both extracts and the transform are done. Module paths are relative to
// each agent's --root. Run it with `npm run demo:cluster`, which starts NATS and two agents,
// or against your own: EVENTOR_NATS_URL=nats://host:4222 npx eventor run examples/cluster/flow.ts
import { Eventor } from 'eventor';

export default function build(): Eventor {
  const ev = new Eventor({ name: 'cluster', store: ':memory:' });
  const night = ev.addEvent('night');
  const extracted = ev.addEvent('extracted');
  const transformed = ev.addEvent('transformed');
  const ready = ev.addEvent('ready', { expr: [extracted, transformed] });

  ev.addAssoc(night, ev.addStep('extract', { module: './steps.mjs', export: 'extract', args: ['orders'], hosts: ['node1', 'node2'], triggers: { success: [extracted] } }));
  ev.addAssoc(night, ev.addStep('transform', { module: './steps.mjs', export: 'transform', args: ['orders'], queue: 'nightly', triggers: { success: [transformed] } }));
  ev.addAssoc(ready, ev.addStep('publish', { command: ['echo', 'published the night on this host'], hosts: ['node1'] }));

  for (const sequence of [1, 2, 3]) ev.triggerEvent(night, sequence);
  return ev;
}
