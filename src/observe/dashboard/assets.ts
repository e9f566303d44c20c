// The dashboard's page, style and script, kept as strings so that `tsc` ships them in dist/
// with the server: nothing is fetched from a CDN, and the page works with no internet.

/** The page: a frame the script fills from the JSON API. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Eventor dashboard</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header>
  <h1>Eventor</h1>
  <label>Run <select id="run-select"></select></label>
  <span id="run-status" class="badge"></span>
  <span id="live" class="live" hidden>● live</span>
  <button id="cancel" type="button" hidden>Cancel run</button>
</header>
<div id="notes"></div>
<main>
  <section id="summary"></section>
  <section>
    <h2>Flow</h2>
    <div id="graph" class="graph"></div>
    <div class="legend" id="legend"></div>
  </section>
  <section>
    <h2>Failures</h2>
    <ul id="failures" class="failures"></ul>
  </section>
  <section>
    <h2>Tasks</h2>
    <div class="filters">
      <label>Status <select id="filter-status"><option value="">all</option><option>success</option><option>failure</option><option>active</option><option>ready</option><option>acquiring</option><option>waiting</option><option>retrying</option></select></label>
      <label>Step <input id="filter-step" placeholder="step name"></label>
      <button id="prev" type="button">‹ Prev</button>
      <span id="page-info"></span>
      <button id="next" type="button">Next ›</button>
    </div>
    <table id="tasks"><thead><tr><th>Step</th><th>Sequence</th><th>Status</th><th>Tries</th><th>Host</th><th>Start</th><th>Duration</th><th>Error</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Log <span id="log-title" class="muted">(choose a task)</span></h2>
    <pre id="log" class="log"></pre>
  </section>
  <section id="actors-section" hidden>
    <h2>Actors <span class="muted">(XState inspection, live)</span></h2>
    <div class="filters">
      <label>Actor <input id="filter-actor" placeholder="task:load"></label>
      <button id="actors-prev" type="button">‹ Prev</button>
      <span id="actors-info"></span>
      <button id="actors-next" type="button">Next ›</button>
    </div>
    <div class="actors">
      <table id="actors"><thead><tr><th>Actor</th><th>State</th><th>Events</th><th>Last event</th></tr></thead><tbody></tbody></table>
      <div><h3 id="actor-title" class="muted">choose an actor</h3><pre id="actor-snapshot" class="log"></pre>
      <table id="actor-events"><thead><tr><th>Event</th><th>From</th><th>Then</th><th>Data</th></tr></thead><tbody></tbody></table></div>
    </div>
  </section>
  <section>
    <h2>Recoveries</h2>
    <table id="recoveries"><thead><tr><th>Recovery</th><th>Took up</th><th>Ran</th><th>Kept</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script src="/app.js"></script>
</body>
</html>
`;

/** The style: status colours shared by the graph, the badges and the table. */
export const APP_CSS = `
:root { --success: #2e9e4f; --failure: #d33b3b; --active: #2f6fd6; --ready: #8a63d2; --acquiring: #b07cd8; --waiting: #c9a227; --retrying: #e07b24; --none: #9aa3ad; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f5f6f8; }
header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; background: #1d232a; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; }
main { padding: 0 1rem 2rem; }
section { background: #fff; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
h2 { font-size: 1rem; margin: .2rem 0 .6rem; }
.badge { padding: .1rem .5rem; border-radius: 3px; background: var(--none); color: #fff; }
.badge.success { background: var(--success); } .badge.failure { background: var(--failure); } .badge.running { background: var(--active); }
.badge.stopped { background: var(--retrying); } .badge.waiting { background: var(--waiting); }
.live { color: #7fe08f; }
.graph svg { max-width: 100%; height: auto; }
.graph .step rect { stroke: #1d232a; stroke-width: 1; rx: 6; }
.graph .event ellipse { fill: #eef0f3; stroke: #7a838c; }
.graph text { font-size: 12px; pointer-events: none; }
.graph .step { cursor: pointer; }
.graph .edge { stroke: #7a838c; fill: none; }
.graph .edge-label { font-size: 10px; fill: #59616a; }
.fill-success { fill: var(--success); background: var(--success); } .fill-failure { fill: var(--failure); background: var(--failure); }
.fill-active { fill: var(--active); background: var(--active); } .fill-ready { fill: var(--ready); background: var(--ready); }
.fill-acquiring { fill: var(--acquiring); background: var(--acquiring); } .fill-waiting { fill: var(--waiting); background: var(--waiting); }
.fill-retrying { fill: var(--retrying); background: var(--retrying); } .fill-none { fill: var(--none); background: var(--none); }
.legend span { display: inline-block; margin-right: .8rem; }
.legend i { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .3rem; vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
tbody tr { cursor: pointer; } tbody tr:hover { background: #f0f4fb; } tbody tr.chosen { background: #e2ebfa; }
td.status { font-weight: 600; }
td.status.success { color: var(--success); } td.status.failure { color: var(--failure); } td.status.active { color: var(--active); }
td.status.waiting, td.status.retrying { color: var(--retrying); }
td.error { color: var(--failure); max-width: 40rem; white-space: pre-wrap; word-break: break-word; }
.filters { display: flex; gap: .8rem; align-items: center; margin-bottom: .5rem; }
.log { background: #1d232a; color: #e6e6e6; padding: .6rem; max-height: 22rem; overflow: auto; white-space: pre-wrap; margin: 0; }
.muted { color: #7a838c; font-weight: normal; }
.actors { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
#actor-events td:last-child { font-family: monospace; font-size: 12px; word-break: break-all; }
h3 { font-size: .9rem; margin: .2rem 0; }
.failures li { color: var(--failure); }
#notes div { background: #fff4d6; padding: .4rem 1rem; border-bottom: 1px solid #e8d9a8; }
`;

/** The script: reads the JSON API, draws the graph as SVG, pages the tasks, and follows the event stream. */
export const APP_JS = `
'use strict';
const STATUSES = ['failure', 'retrying', 'active', 'acquiring', 'ready', 'waiting', 'success'];
const state = { runId: null, detail: null, offset: 0, limit: 100, chosen: null, live: false, refresh: null, ended: null, actors: false, actorOffset: 0, actor: null, actorsLater: null, poll: null };
const $ = (id) => document.getElementById(id);
const api = async (path) => {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error((await response.json()).error || response.statusText);
  return response.json();
};
const el = (tag, attrs, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) if (value !== undefined && value !== null) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child == null ? '' : String(child)));
  return node;
};
const svg = (tag, attrs, ...children) => {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) if (value !== undefined && value !== null) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
};
const time = (ms) => (ms == null ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\\.\\d+Z$/, 'Z'));
const duration = (ms) => {
  if (ms == null || ms < 0) return '-';
  if (ms < 1000) return Math.round(ms) + 'ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
  const s = Math.round(ms / 1000);
  return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
};
const counts = (byStatus) => Object.entries(byStatus || {}).filter(([, n]) => n).map(([status, n]) => status + '=' + n).join(' ') || '-';
/** A step's status: the most urgent of its tasks' statuses; none before any task. */
const stepStatus = (byStatus) => STATUSES.find((status) => byStatus && byStatus[status]) || 'none';

function drawGraph(detail) {
  const { nodes, edges } = detail.graph;
  // Layers by longest path from the sources; a cycle (a trigger back to an earlier event) is cut after a pass per node.
  const layer = new Map(nodes.map((node) => [node.id, 0]));
  for (let pass = 0; pass < nodes.length; pass += 1) {
    let moved = false;
    for (const edge of edges) {
      if (!layer.has(edge.from) || !layer.has(edge.to)) continue;
      const next = layer.get(edge.from) + 1;
      if (next > layer.get(edge.to) && next < nodes.length) { layer.set(edge.to, next); moved = true; }
    }
    if (!moved) break;
  }
  const columns = [];
  for (const node of nodes) (columns[layer.get(node.id)] = columns[layer.get(node.id)] || []).push(node);
  const dense = columns.filter(Boolean);
  const perColumn = edges.length ? 0 : 6; // a graph of steps only (read from a store) is laid out as a grid
  const place = new Map();
  const W = 150, H = 40, GX = 60, GY = 24;
  let width = 0, height = 0;
  if (perColumn) {
    nodes.forEach((node, index) => {
      const x = 10 + (index % perColumn) * (W + GX), y = 10 + Math.floor(index / perColumn) * (H + GY);
      place.set(node.id, { x, y });
      width = Math.max(width, x + W + 10); height = Math.max(height, y + H + 10);
    });
  } else {
    dense.forEach((column, c) => column.forEach((node, r) => {
      const x = 10 + c * (W + GX), y = 10 + r * (H + GY);
      place.set(node.id, { x, y });
      width = Math.max(width, x + W + 10); height = Math.max(height, y + H + 10);
    }));
  }
  const root = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, width, height, role: 'img', 'aria-label': 'flow graph' });
  root.append(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7a838c' }))));
  for (const edge of edges) {
    const a = place.get(edge.from), b = place.get(edge.to);
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    const back = x2 <= x1;
    const d = back ? 'M' + (a.x + W / 2) + ',' + (a.y + H) + ' C' + (a.x + W / 2) + ',' + (height) + ' ' + (b.x + W / 2) + ',' + height + ' ' + (b.x + W / 2) + ',' + (b.y + H) : 'M' + x1 + ',' + y1 + ' C' + (x1 + GX / 2) + ',' + y1 + ' ' + (x2 - GX / 2) + ',' + y2 + ' ' + x2 + ',' + y2;
    root.append(svg('path', { class: 'edge', d, 'marker-end': 'url(#arrow)' }));
    if (edge.label) root.append(svg('text', { class: 'edge-label', x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle' }, edge.label));
  }
  for (const node of nodes) {
    const p = place.get(node.id);
    if (node.shape === 'event') {
      root.append(svg('g', { class: 'event', 'data-event': node.label }, svg('ellipse', { cx: p.x + W / 2, cy: p.y + H / 2, rx: W / 2, ry: H / 2 }), svg('text', { x: p.x + W / 2, y: p.y + H / 2 + 4, 'text-anchor': 'middle' }, node.label)));
      continue;
    }
    const step = node.step || node.label;
    const byStatus = detail.steps[step];
    const status = stepStatus(byStatus);
    const group = svg('g', { class: 'step', 'data-step': step, 'data-status': status, tabindex: 0 },
      svg('title', {}, step + ': ' + counts(byStatus)),
      svg('rect', { x: p.x, y: p.y, width: W, height: H, class: 'fill-' + status }),
      svg('text', { x: p.x + W / 2, y: p.y + 16, 'text-anchor': 'middle', fill: '#fff' }, node.label),
      svg('text', { x: p.x + W / 2, y: p.y + 31, 'text-anchor': 'middle', fill: '#fff', class: 'step-status' }, status === 'none' ? 'not started' : status));
    group.addEventListener('click', () => { $('filter-step').value = step; state.offset = 0; loadTasks(); });
    root.append(group);
  }
  $('graph').replaceChildren(root);
  $('legend').replaceChildren(...STATUSES.concat(['none']).map((status) => el('span', {}, el('i', { class: 'fill-' + status }), status === 'none' ? 'not started' : status)));
}

async function loadRuns() {
  const { runs, notes, live, canCancel, actors } = await api('/api/runs');
  state.live = live;
  state.actors = actors;
  $('actors-section').hidden = !actors;
  $('live').hidden = !live;
  $('cancel').hidden = !canCancel;
  $('notes').replaceChildren(...notes.map((note) => el('div', { class: 'note' }, note)));
  const select = $('run-select');
  select.replaceChildren(...runs.map((run) => el('option', { value: run.runId }, run.flow + ' · ' + run.runId + ' · ' + run.status)));
  if (!state.runId || !runs.some((run) => run.runId === state.runId)) state.runId = runs.length ? runs[0].runId : null;
  if (state.runId) select.value = state.runId;
}

async function loadRun() {
  if (!state.runId) { $('summary').textContent = 'No runs yet.'; return; }
  const detail = await api('/api/runs/' + encodeURIComponent(state.runId));
  state.detail = detail;
  const run = detail.run;
  const badge = $('run-status');
  const status = state.ended || run.status;
  badge.textContent = status; badge.className = 'badge ' + status;
  $('summary').replaceChildren(el('div', {}, 'Flow ', el('b', {}, run.flow), ' · run ', el('code', { id: 'run-id' }, run.runId), ' · store ', el('code', {}, run.store)),
    el('div', {}, 'started ' + time(run.startedAt) + ' · updated ' + time(run.updatedAt) + ' · recoveries ' + run.recoveries + ' · tasks: ' + counts(run.counts)));
  drawGraph(detail);
  // A store that a run on other hosts writes as it goes (a NATS bucket) has no event stream here: read it again every two seconds while the run goes on.
  clearTimeout(state.poll);
  if (!state.live && run.status === 'running') state.poll = setTimeout(() => refresh().catch(show), 2000);
  $('recoveries').tBodies[0].replaceChildren(...detail.recoveries.map((r) => el('tr', {}, el('td', {}, r.recovery), el('td', {}, r.parent == null || r.parent < 0 ? '-' : r.parent), el('td', {}, counts(r.ran)), el('td', {}, r.kept))));
  const failed = await api('/api/runs/' + encodeURIComponent(state.runId) + '/tasks?status=failure&limit=20');
  $('failures').replaceChildren(...(failed.tasks.length ? failed.tasks.map((task) => el('li', { 'data-step': task.step }, task.step + '/' + task.sequence + ': ' + (task.error ? task.error.name + ': ' + task.error.message : 'failed'))) : [el('li', { class: 'muted' }, 'none')]).concat(failed.total > failed.tasks.length ? [el('li', {}, 'and ' + (failed.total - failed.tasks.length) + ' more')] : []));
}

async function loadTasks() {
  if (!state.runId) return;
  const query = new URLSearchParams({ offset: state.offset, limit: state.limit });
  if ($('filter-status').value) query.set('status', $('filter-status').value);
  if ($('filter-step').value) query.set('step', $('filter-step').value);
  const page = await api('/api/runs/' + encodeURIComponent(state.runId) + '/tasks?' + query);
  const rows = page.tasks.map((task) => {
    const key = task.step + '/' + task.sequence;
    const row = el('tr', { 'data-step': task.step, 'data-sequence': task.sequence, 'data-status': task.status, class: state.chosen === key ? 'chosen' : null },
      el('td', {}, task.step), el('td', {}, task.sequence), el('td', { class: 'status ' + task.status }, task.status + (task.keptFrom != null ? ' (kept)' : '')),
      el('td', {}, task.tries), el('td', {}, task.host || '-'), el('td', {}, time(task.startedAt)), el('td', {}, duration(task.durationMs)),
      el('td', { class: 'error' }, task.error ? task.error.name + ': ' + task.error.message : ''));
    row.addEventListener('click', () => { state.chosen = key; loadLog(task.step, task.sequence); for (const other of row.parentNode.children) other.classList.toggle('chosen', other === row); });
    return row;
  });
  $('tasks').tBodies[0].replaceChildren(...rows);
  const last = Math.min(page.total, page.offset + page.tasks.length);
  $('page-info').textContent = page.total ? (page.offset + 1) + '–' + last + ' of ' + page.total + (page.total !== page.all ? ' (of ' + page.all + ')' : '') : 'no tasks';
  $('prev').disabled = page.offset === 0;
  $('next').disabled = last >= page.total;
}

async function loadLog(step, sequence) {
  $('log-title').textContent = step + '/' + sequence;
  const tail = await api('/api/runs/' + encodeURIComponent(state.runId) + '/log?' + new URLSearchParams({ step, sequence }));
  $('log').textContent = tail.lines.length ? tail.lines.map((line) => (line.time ? time(typeof line.time === 'number' ? line.time : Date.parse(line.time)) + ' ' : '') + line.msg).join('\\n') : (tail.note || 'no log lines for this task');
}

async function loadActors() {
  state.actorsLater = null;
  if (!state.actors) return;
  const query = new URLSearchParams({ offset: state.actorOffset, limit: 50 });
  if ($('filter-actor').value) query.set('match', $('filter-actor').value);
  const page = await api('/api/actors?' + query);
  $('actors').tBodies[0].replaceChildren(...page.actors.map((actor) => {
    const row = el('tr', { 'data-actor': actor.id, class: state.actor === actor.id ? 'chosen' : null }, el('td', {}, actor.id), el('td', { class: 'status ' + actor.state }, actor.state), el('td', {}, actor.events), el('td', {}, actor.lastEvent || '-'));
    row.addEventListener('click', () => { state.actor = actor.id; loadActor().catch(show); for (const other of row.parentNode.children) other.classList.toggle('chosen', other === row); });
    return row;
  }));
  const last = Math.min(page.total, page.offset + page.actors.length);
  $('actors-info').textContent = page.total ? (page.offset + 1) + '–' + last + ' of ' + page.total : 'no actors yet';
  $('actors-prev').disabled = page.offset === 0;
  $('actors-next').disabled = last >= page.total;
  if (state.actor) await loadActor();
}

async function loadActor() {
  const found = await api('/api/actors/' + encodeURIComponent(state.actor));
  $('actor-title').textContent = found.actor.id + ': ' + found.actor.state;
  $('actor-snapshot').textContent = found.snapshot;
  $('actor-events').tBodies[0].replaceChildren(...found.events.slice().reverse().map((event) => el('tr', {}, el('td', {}, event.event), el('td', {}, event.from || '-'), el('td', {}, event.state || '-'), el('td', {}, event.data))));
}

async function refresh() {
  state.refresh = null;
  await loadRun();
  await loadTasks();
  if (state.chosen) { const [step, ...rest] = state.chosen.split('/'); await loadLog(step, rest.join('/')); }
}
/** Many transitions in a burst make one refresh, at most every quarter of a second: a run of thousands of tasks keeps the page responsive. */
const later = () => { if (!state.refresh) state.refresh = setTimeout(() => refresh().catch(show), 250); };
const show = (error) => { $('notes').replaceChildren(el('div', { class: 'note' }, String(error && error.message || error))); };

$('run-select').addEventListener('change', () => { state.runId = $('run-select').value; state.offset = 0; state.chosen = null; refresh().catch(show); });
$('filter-status').addEventListener('change', () => { state.offset = 0; loadTasks().catch(show); });
$('filter-step').addEventListener('input', () => { state.offset = 0; loadTasks().catch(show); });
$('prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); loadTasks().catch(show); });
$('next').addEventListener('click', () => { state.offset += state.limit; loadTasks().catch(show); });
$('filter-actor').addEventListener('input', () => { state.actorOffset = 0; loadActors().catch(show); });
$('actors-prev').addEventListener('click', () => { state.actorOffset = Math.max(0, state.actorOffset - 50); loadActors().catch(show); });
$('actors-next').addEventListener('click', () => { state.actorOffset += 50; loadActors().catch(show); });
$('cancel').addEventListener('click', () => { fetch('/api/cancel', { method: 'POST' }).then(later, show); });

loadRuns().then(refresh).then(loadActors).catch(show).then(() => {
  if (!state.live) {
    // Over a store, runs that start later show up too: the list is read again every three seconds.
    setInterval(() => {
      const before = state.runId;
      loadRuns().then(() => { if (state.runId !== before) return refresh(); }).catch(show);
    }, 3000);
    return;
  }
  const events = new EventSource('/api/events');
  events.addEventListener('actors', () => { if (!state.actorsLater) state.actorsLater = setTimeout(() => loadActors().catch(show), 250); });
  events.addEventListener('transition', (message) => {
    const transition = JSON.parse(message.data);
    if (transition.runId !== state.runId) loadRuns().then(later, show);
    else later();
  });
  // The run's end: the dashboard of eventor run stops with it, so the page says so at once, without asking the server.
  events.addEventListener('run', (message) => {
    const end = JSON.parse(message.data);
    events.close();
    state.ended = end.status;
    if (state.refresh) { clearTimeout(state.refresh); state.refresh = null; }
    const badge = $('run-status');
    badge.textContent = end.status; badge.className = 'badge ' + end.status;
    $('live').hidden = true; $('cancel').hidden = true;
    $('notes').replaceChildren(el('div', { class: 'note' }, 'The run ended: ' + end.status + '. This dashboard stops with it; eventor ui --store STORE shows the run from its store.'));
  });
});
`;
