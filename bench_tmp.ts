import { setup, createActor, assign, createMachine } from 'xstate';
const m = setup({
  types: {} as { context: { step: string; sequence: string; result?: unknown }; input: { step: string; sequence: string }; events: { type: 'start' } | { type: 'done'; result: unknown } },
}).createMachine({
  id: 'task', initial: 'ready', context: ({ input }) => ({ step: input.step, sequence: input.sequence }),
  states: {
    ready: { on: { start: 'active' } },
    active: { on: { done: { target: 'success', actions: assign({ result: ({ event }) => event.result }) } } },
    success: { type: 'final' },
  },
});
const parent = createActor(createMachine({})).start();
function t(label: string, n: number, f: (i: number) => void) {
  const t0 = performance.now(); for (let i = 0; i < n; i++) f(i);
  console.log(label, ((performance.now() - t0) * 1000 / n).toFixed(1));
}
for (let k = 0; k < 3; k++) {
  t('root 3-state', 10000, (i) => { const a = createActor(m, { input: { step: 's', sequence: String(i) } }).start(); a.send({ type: 'start' }); a.send({ type: 'done', result: i }); });
  t('parented 3-state', 10000, (i) => { const a = createActor(m, { parent: parent as any, input: { step: 's', sequence: String(i) } }).start(); a.send({ type: 'start' }); a.send({ type: 'done', result: i }); });
  t('send only', 10000, (i) => { parent.send({ type: 'x' } as any); });
}
