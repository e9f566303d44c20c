// The seed's simple example: three steps in a chain, each started by the event the one before triggers.
// Run it with `npx eventor run examples/simple-chain.ts`, or by itself with `npx tsx examples/simple-chain.ts`.
import { pathToFileURL } from 'node:url';
import { Eventor, StepStatus, currentStep } from 'eventor';

function prog(progname: string): string {
  currentStep().logger.info(`doing what ${progname} is doing`);
  return progname;
}

export default function build(): Eventor {
  // No store given: runs are kept in the LevelDB folder .eventor/simple-chain, ready for a recovery.
  const ev = new Eventor({ name: 'simple-chain' });

  const ev1s = ev.addEvent('run_step1');
  const ev2s = ev.addEvent('run_step2');
  const ev3s = ev.addEvent('run_step3');

  const s1 = ev.addStep('s1', { func: prog, args: ['prog1'], triggers: { [StepStatus.success]: [ev2s] } });
  const s2 = ev.addStep('s2', { func: prog, args: ['prog2'], triggers: { [StepStatus.success]: [ev3s] } });
  const s3 = ev.addStep('s3', { func: prog, args: ['prog3'] });

  ev.addAssoc(ev1s, s1);
  ev.addAssoc(ev2s, s2);
  ev.addAssoc(ev3s, s3);

  ev.triggerEvent(ev1s, 1);
  return ev;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ev = build();
  const ok = await ev.run();
  await ev.close();
  process.exitCode = ok ? 0 : 1;
}
