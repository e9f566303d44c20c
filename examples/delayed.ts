// A delayed association: `cleanup` starts 0.5 s after `load` succeeds (delays are in seconds).
import { pathToFileURL } from 'node:url';
import { Eventor, StepStatus, currentStep } from 'eventor';

export default function build(delay = 0.5): Eventor {
  const ev = new Eventor({ name: 'delayed', store: ':memory:' });
  const start = ev.addEvent('start');
  const loaded = ev.addEvent('loaded');
  const loadedAt: Record<string, number> = {};

  ev.addAssoc(start, ev.addStep('load', {
    func: () => {
      loadedAt[currentStep().sequence] = Date.now();
      currentStep().logger.info('loaded');
    },
    triggers: { [StepStatus.success]: [loaded] },
  }));
  ev.addAssoc(loaded, ev.addStep('cleanup', {
    func: () => currentStep().logger.info(`cleaning up ${Date.now() - loadedAt[currentStep().sequence]} ms after the load`),
  }), { delay });

  ev.triggerEvent(start, 1);
  return ev;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ev = build();
  const ok = await ev.run();
  await ev.close();
  process.exitCode = ok ? 0 : 1;
}
