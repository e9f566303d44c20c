// A failing step. With stopOnException (the default) the failure stops the run: `s3` never starts
// and run() resolves false. Without it the run goes on to `s3`, and still resolves false, since
// nothing handled the failure. Run by itself, this file shows both; `eventor run` runs the first.
import { pathToFileURL } from 'node:url';
import { Eventor, StepStatus, currentStep } from 'eventor';

function squareRoot(x: number): number {
  if (x < 0) throw new RangeError(`math domain error: sqrt(${x})`);
  const y = Math.sqrt(x);
  currentStep().logger.info(`square root of ${x} is ${y}`);
  return y;
}

export default function build(stopOnException = true): Eventor {
  const ev = new Eventor({ name: 'stop-on-exception', store: ':memory:', config: { stopOnException } });
  const start = ev.addEvent('start');
  const next = ev.addEvent('next');

  ev.addAssoc(start, ev.addStep('s1', { func: squareRoot, args: [9] }));
  ev.addAssoc(start, ev.addStep('s2', { func: squareRoot, args: [-9] }));
  ev.addAssoc(start, ev.addStep('slow', {
    func: () => new Promise((resolve) => setTimeout(resolve, 50)),
    triggers: { [StepStatus.success]: [next] },
  }));
  ev.addAssoc(next, ev.addStep('s3', { func: () => currentStep().logger.info('s3 ran') }));

  ev.triggerEvent(start, 1);
  return ev;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const stop of [true, false]) {
    console.log(`--- stopOnException: ${stop}`);
    const ev = build(stop);
    const ok = await ev.run();
    await ev.close();
    console.log(`run() resolved ${ok}`);
  }
}
