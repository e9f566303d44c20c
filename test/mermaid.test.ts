import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Eventor, loadFlow, or, Sequent } from '../src/index.js';

const quiet = { store: ':memory:', config: { logging: { console: false } } } as const;

test("a Sequent's toMermaid draws the seed's diagram: S1 holding S11 (S111 -> S112), then S12, then S2", () => {
  const text = (loadFlow('examples/nested.yaml', quiet) as Sequent).toMermaid();
  const lines = text.trim().split('\n').map((line) => line.trim());
  assert.equal(lines[0], 'flowchart LR');
  const open = (label: string) => lines.findIndex((line) => line.startsWith('subgraph') && line.includes(`["${label}`));
  const s1 = open('s1');
  const s11 = open('s11');
  assert.ok(s1 >= 0 && s11 > s1, text);
  const s111 = lines.indexOf('n_s1_s11_s111["s111"]');
  const s112 = lines.indexOf('n_s1_s11_s112["s112"]');
  const s12 = lines.indexOf('n_s1_s12["s12"]');
  const ends = lines.map((line, index) => (line === 'end' ? index : -1)).filter((index) => index >= 0);
  assert.ok(s11 < s111 && s111 < s112 && s112 < ends[0] && ends[0] < s12 && s12 < ends[1], 's111 and s112 inside s11, s12 inside s1 only');
  assert.ok(lines.includes('n_s1_s11_s111 --> n_s1_s11_s112'));
  assert.ok(lines.includes('n_s1_s11_group --> n_s1_s12'), 'a container is required as a whole');
  assert.ok(lines.includes('n_s1_group --> n_s2'));
});

test("requirements other than success are labelled, and or-requirements draw one arrow each", () => {
  const flow = new Sequent(quiet);
  const a = flow.addStep('a', { func: () => 1 });
  const b = flow.addStep('b', { func: () => 1 });
  flow.addStep('c', { func: () => 1, requires: or([a, 'failure'], [b, 'complete']) });
  const text = flow.toMermaid();
  assert.match(text, /n_a -->\|failure\| n_c/);
  assert.match(text, /n_b -->\|complete\| n_c/);
});

test("an Eventor's toMermaid draws events, steps, associations with delays, triggers and expressions", () => {
  const ev = new Eventor(quiet);
  const start = ev.addEvent('start');
  const done = ev.addEvent('done');
  const both = ev.addEvent('both', { expr: [start, done] });
  ev.addAssoc(start, ev.addStep('s1', { func: () => 1, triggers: { success: [done] } }));
  ev.addAssoc(both, ev.addStep('s2', { func: () => 1 }), { delay: 5 });
  const text = ev.toMermaid();
  assert.match(text, /n_event_3a_start\(\["start"\]\)/);
  assert.match(text, /n_step_3a_s1\["s1"\]/);
  assert.match(text, /n_event_3a_start --> n_step_3a_s1/);
  assert.match(text, /n_step_3a_s1 -->\|success\| n_event_3a_done/);
  assert.match(text, /n_event_3a_done -->\|and\| n_event_3a_both/);
  assert.match(text, /n_event_3a_both -->\|after 5 s\| n_step_3a_s2/);
});
