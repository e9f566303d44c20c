// Resource pools, as in the seed: two pools of 2. Steps acquire 1 or 2 before they start and
// give them back when they end; a step waits (status `acquiring`) until what it needs is free.
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Eventor, ResourcePool, currentStep } from 'eventor';

export const rp1 = new ResourcePool('RP1', { limit: 2 });
export const rp2 = new ResourcePool('RP2', { limit: 2 });

async function prog(progname: string): Promise<string> {
  const { logger, sequence } = currentStep();
  logger.info(`${progname}/${sequence} holds RP1 ${rp1.used}/2, RP2 ${rp2.used}/2`);
  await sleep(20);
  return progname;
}

export default function build(): Eventor {
  const ev = new Eventor({ name: 'resources', store: ':memory:' });
  const start = ev.addEvent('start');
  ev.addAssoc(
    start,
    ev.addStep('s1', { func: prog, args: ['prog1'], acquires: [[rp2, 1]] }),
    ev.addStep('s2', { func: prog, args: ['prog2'], acquires: [[rp1, 1], [rp2, 1]] }),
    ev.addStep('s3', { func: prog, args: ['prog3'], acquires: [[rp1, 2]] }),
    ev.addStep('s4', { func: prog, args: ['prog4'], acquires: [[rp2, 2]] }),
  );
  for (let sequence = 1; sequence <= 3; sequence++) ev.triggerEvent(start, sequence);
  return ev;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ev = build();
  const ok = await ev.run();
  await ev.close();
  process.exitCode = ok ? 0 : 1;
}
