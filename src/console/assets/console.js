// console.js - the sfnd console's pages (src/console): state machines,
// a machine, an execution (graph coloured by the path taken, events,
// state data, saga views, live updates), and the start/stop/redrive actions.
// It calls the same JSON API the SDKs use (POST / with X-Amz-Target) and
// the console's read endpoints (/console/graph.svg, /console/summary,
// /console/saga). Must not: load code or data from another origin, put
// API data into the page as HTML (everything goes in as text), or write
// without the console token and a confirmation.
'use strict';

const TOKEN = document.querySelector('meta[name="sfnd-console-token"]').content;
const main = document.getElementById('main');
const STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'];
const PAGE = 100;
let live = null; // the running execution page's refresh loop

// ---- helpers ----------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

// el's children replaced by kids (nulls dropped, arrays flattened, as h).
function fill(el, ...kids) {
  el.replaceChildren(...Array.from(h('div', {}, ...kids).childNodes));
}

async function api(op, body) {
  const r = await fetch('/', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': op.includes('.') ? op : 'AWSStepFunctions.' + op,
      'X-Sfnd-Console-Token': TOKEN,
    },
    body: JSON.stringify(body || {}),
  });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((j.__type || r.status) + ': ' + (j.message || ''));
  return j;
}

async function getJSON(url) {
  const r = await fetch(url);
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((j.__type || r.status) + ': ' + (j.message || ''));
  return j;
}

const q = (k, v) => k + '=' + encodeURIComponent(v);
const fmtTime = (t) => (t ? new Date(t * 1000).toLocaleString() : '');
const badge = (s) => h('span', { class: 'badge b-' + s }, s);
const nameOf = (arn) => arn.split(':').pop();
// A state machine's ARN from its own, a version's or an alias's
// (arn:aws:states:region:account:stateMachine:name[:qualifier]).
const baseArn = (arn) => arn.split(':').slice(0, 7).join(':');

function stateId(name) {
  return 'st-' + Array.from(new TextEncoder().encode(name), (b) => b.toString(16).padStart(2, '0')).join('');
}

function pretty(text) {
  if (text === undefined || text === null) return '';
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return String(text); }
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// Keyboard over a table's rows (one tab stop, a roving tabindex): Up/Down,
// Home/End move between rows; Enter opens the row's link or calls its
// onselect; Space toggles its details.
function rowNav(tbody) {
  if (!tbody) return;
  const rows = () => Array.from(tbody.rows).filter((r) => !r.classList.contains('empty'));
  rows().forEach((r, i) => r.setAttribute('tabindex', i === 0 ? '0' : '-1'));
  if (tbody.dataset.nav) return;
  tbody.dataset.nav = '1';
  tbody.addEventListener('keydown', (ev) => {
    const r = ev.target.closest('tr');
    if (!r || r.parentNode !== tbody || ev.target !== r) return;
    const all = rows();
    let i = all.indexOf(r);
    if (ev.key === 'ArrowDown') i = Math.min(all.length - 1, i + 1);
    else if (ev.key === 'ArrowUp') i = Math.max(0, i - 1);
    else if (ev.key === 'Home') i = 0;
    else if (ev.key === 'End') i = all.length - 1;
    else if (ev.key === 'Enter') {
      ev.preventDefault();
      const a = r.querySelector('a');
      if (r.onselect) r.onselect(); else if (a) a.click();
      return;
    } else if (ev.key === ' ' && r.querySelector('details')) {
      ev.preventDefault();
      const d = r.querySelector('details');
      d.open = !d.open;
      return;
    } else return;
    ev.preventDefault();
    all.forEach((x) => x.setAttribute('tabindex', '-1'));
    all[i].setAttribute('tabindex', '0');
    all[i].focus();
  });
}

function fail(err) {
  main.replaceChildren(h('h1', {}, 'Error'), h('p', { class: 'err', role: 'alert' }, String(err.message || err)),
    h('p', {}, h('a', { href: '#/' }, 'Back to the state machines')));
}

// A confirmation dialog; body is a node; onOk may throw to keep it open.
function confirmDialog(title, body, okLabel, onOk) {
  const dlg = document.getElementById('dlg');
  document.getElementById('dlg-title').textContent = title;
  document.getElementById('dlg-body').replaceChildren(body);
  document.getElementById('dlg-err').textContent = '';
  const ok = document.getElementById('dlg-ok');
  ok.textContent = okLabel;
  const form = document.getElementById('dlg-form');
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    ok.disabled = true;
    try { await onOk(); dlg.close(); } catch (e) { document.getElementById('dlg-err').textContent = e.message; }
    ok.disabled = false;
  };
  document.getElementById('dlg-cancel').onclick = () => dlg.close();
  dlg.showModal();
}

// ---- the state machines --------------------------------------------------------
async function pageMachines() {
  const { stateMachines } = await api('ListStateMachines', { maxResults: 1000 });
  const rows = stateMachines.map((m) => {
    const counts = h('td', {}, '...');
    countExecutions(m.stateMachineArn, counts);
    return h('tr', {}, h('td', {}, h('a', { href: '#/sm/' + encodeURIComponent(m.stateMachineArn) }, m.name)),
      h('td', {}, m.type), h('td', {}, fmtTime(m.creationDate)), counts);
  });
  main.replaceChildren(h('h1', {}, 'State machines'),
    h('table', { class: 'machines' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'),
      h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Executions'))),
    h('tbody', {}, rows)));
  rowNav(main.querySelector('table.machines tbody'));
}

async function countExecutions(arn, cell) {
  try {
    const r = await api('ListExecutions', { stateMachineArn: arn, maxResults: 1000 });
    const c = {};
    for (const x of r.executions) c[x.status] = (c[x.status] || 0) + 1;
    const more = r.nextToken ? '+' : '';
    cell.replaceChildren(...(Object.keys(c).length ? STATUSES.filter((s) => c[s])
      .map((s) => [badge(s + ' ' + c[s] + more), ' ']) : ['none']).flat());
  } catch (e) { cell.textContent = e.message; }
}

// ---- a state machine -------------------------------------------------------------
async function pageMachine(arn) {
  const sm = await api('DescribeStateMachine', { stateMachineArn: arn });
  const graph = h('div', { class: 'graph', 'aria-label': 'Graph of ' + sm.name }, 'Laying out...');
  const execs = h('div', {});
  const origin = h('div', {}, 'Loading...');
  const versions = h('div', {}, 'Loading...');
  main.replaceChildren(h('h1', {}, sm.name),
    kv([['ARN', sm.stateMachineArn],
      ['Version of', baseArn(arn) !== arn ? h('a', { href: '#/sm/' + encodeURIComponent(baseArn(arn)), id: 'version-of' }, nameOf(baseArn(arn))) : null],
      ['Description', sm.description], ['Type', sm.type], ['Status', sm.status], ['Created', fmtTime(sm.creationDate)],
      ['Role', sm.roleArn]]),
    h('div', { class: 'toolbar' }, h('button', { class: 'primary', id: 'start', onclick: () => startDialog(arn) }, 'Start execution')),
    h('div', { class: 'row' },
      h('section', { class: 'col', 'aria-labelledby': 'g-h' }, h('h2', { id: 'g-h' }, 'Graph'), graph),
      h('section', { class: 'col', 'aria-labelledby': 'd-h' }, h('h2', { id: 'd-h' }, 'Definition (ASL)'),
        h('pre', { tabindex: '0' }, pretty(sm.definition)))),
    h('div', { class: 'row' },
      h('section', { class: 'col', 'aria-labelledby': 'o-h', id: 'origin' }, h('h2', { id: 'o-h' }, 'Template origin'), origin),
      h('section', { class: 'col', 'aria-labelledby': 'v-h', id: 'versions' }, h('h2', { id: 'v-h' }, 'Versions and aliases'), versions)),
    h('section', { 'aria-labelledby': 'x-h' }, h('h2', { id: 'x-h' }, 'Executions'), execs));
  loadGraph(graph, 'stateMachineArn', arn);
  executionsTable(execs, arn);
  renderOrigin(origin, arn).catch((e) => { origin.textContent = e.message; });
  renderVersions(versions, arn).catch((e) => { versions.textContent = e.message; });
}

// Where the machine came from: the template, its logical ID, the
// DefinitionSubstitutions, the functions its definition resolves to.
async function renderOrigin(box, arn) {
  const o = await getJSON('/console/origin?' + q('stateMachineArn', arn));
  const subs = o.substitutions ? Object.entries(o.substitutions) : [];
  fill(box,
    kv([['Template', o.template || 'none (created through the API)'], ['Logical ID', o.logicalId || 'none']]),
    h('h3', {}, 'Functions'),
    o.functions.length ? h('ul', { class: 'functions' }, o.functions.map((f) => h('li', {},
      h('a', { href: '/2015-03-31/functions/' + encodeURIComponent(f.name), title: f.arn, class: 'fn' }, f.name),
      ' ', h('span', { class: 'muted' }, f.arn), ' (', f.states.join(', '), ')'))) : h('p', { class: 'muted' }, 'none'),
    h('h3', {}, 'DefinitionSubstitutions'),
    subs.length ? h('table', { class: 'subs' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'))),
      h('tbody', {}, subs.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, String(v)))))) : h('p', { class: 'muted' }, 'none'));
  rowNav(box.querySelector('table.subs tbody'));
}

// Versions and aliases, as the SDKs list them (ListStateMachineVersions,
// ListStateMachineAliases), each then described (DescribeStateMachine on
// the version ARN for its description, DescribeStateMachineAlias for its
// routing); "none" when there are none or this sfnd does not know the
// operation. arn may be a version's: the lists are the machine's.
async function renderVersions(box, arn) {
  const base = baseArn(arn);
  const list = async (op, key) => {
    try { return (await api(op, { stateMachineArn: base, maxResults: 1000 }))[key] || []; } catch (e) { return []; }
  };
  const [vs, as] = await Promise.all([list('ListStateMachineVersions', 'stateMachineVersions'),
    list('ListStateMachineAliases', 'stateMachineAliases')]);
  const described = (p, fallback) => p.catch(() => fallback);
  const [vds, ads] = await Promise.all([
    Promise.all(vs.map((v) => described(api('DescribeStateMachine', { stateMachineArn: v.stateMachineVersionArn }), v))),
    Promise.all(as.map((a) => described(api('DescribeStateMachineAlias', { stateMachineAliasArn: a.stateMachineAliasArn }), a)))]);
  const th = (cols) => h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c))));
  const versionLink = (varn) => h('a', { href: '#/sm/' + encodeURIComponent(varn), class: 'version' }, nameOf(varn));
  fill(box, h('h3', {}, 'Versions'),
    vs.length ? h('table', { id: 'version-list', class: 'versions' }, th(['Version', 'Description', 'Created']),
      h('tbody', {}, vs.map((v, i) => h('tr', { 'data-version': nameOf(v.stateMachineVersionArn), class: v.stateMachineVersionArn === arn ? 'selected' : null },
        h('td', {}, versionLink(v.stateMachineVersionArn)), h('td', { class: 'desc' }, vds[i].description || ''),
        h('td', {}, fmtTime(v.creationDate)))))) : h('p', { class: 'muted', id: 'version-list' }, 'none'),
    h('h3', {}, 'Aliases'),
    as.length ? h('table', { id: 'alias-list', class: 'aliases' }, th(['Alias', 'Routing', 'Description', 'Created']),
      h('tbody', {}, as.map((a, i) => h('tr', { 'data-alias': nameOf(a.stateMachineAliasArn) },
        h('td', {}, nameOf(a.stateMachineAliasArn)),
        h('td', { class: 'routing' }, (ads[i].routingConfiguration || []).map((r, j) => [j ? ', ' : '',
          h('span', { class: 'route', 'data-version': nameOf(r.stateMachineVersionArn), 'data-weight': String(r.weight) },
            'version ', versionLink(r.stateMachineVersionArn), ': ' + r.weight + '%')])),
        h('td', { class: 'desc' }, ads[i].description || ''), h('td', {}, fmtTime(a.creationDate)))))) : h('p', { class: 'muted', id: 'alias-list' }, 'none'));
  rowNav(box.querySelector('table.versions tbody'));
  rowNav(box.querySelector('table.aliases tbody'));
}

async function loadGraph(box, key, arn) {
  const r = await fetch('/console/graph.svg?' + q(key, arn));
  if (!r.ok) { box.textContent = 'No graph: ' + (await r.text()); return null; }
  const doc = new DOMParser().parseFromString(await r.text(), 'image/svg+xml');
  const svg = document.importNode(doc.documentElement, true);
  svg.setAttribute('role', 'group');
  svg.querySelectorAll('title').forEach((t) => t.remove());
  svg.querySelectorAll('.state').forEach((g) => {
    const label = g.querySelector('text');
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.setAttribute('aria-label', 'State ' + (label ? label.textContent : ''));
  });
  box.replaceChildren(svg);
  graphNav(svg);
  return svg;
}

// Keyboard over the graph: Tab reaches it once; arrows move between the
// states in reading order (top to bottom, then left to right), Home/End.
function graphNav(svg) {
  const states = Array.from(svg.querySelectorAll('.state'));
  const pos = (g) => { try { const b = g.getBBox(); return [b.y, b.x]; } catch (e) { return [0, 0]; } };
  const at = new Map(states.map((g) => [g, pos(g)]));
  states.sort((a, b) => (at.get(a)[0] - at.get(b)[0]) || (at.get(a)[1] - at.get(b)[1]));
  states.forEach((g, i) => g.setAttribute('tabindex', i === 0 ? '0' : '-1'));
  svg.addEventListener('keydown', (ev) => {
    const g = ev.target.closest('.state');
    if (!g) return;
    let i = states.indexOf(g);
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowRight') i = Math.min(states.length - 1, i + 1);
    else if (ev.key === 'ArrowUp' || ev.key === 'ArrowLeft') i = Math.max(0, i - 1);
    else if (ev.key === 'Home') i = 0;
    else if (ev.key === 'End') i = states.length - 1;
    else return;
    ev.preventDefault();
    states.forEach((x) => x.setAttribute('tabindex', '-1'));
    states[i].setAttribute('tabindex', '0');
    states[i].focus();
  });
}

function executionsTable(box, arn) {
  const filter = h('select', { id: 'status-filter', 'aria-label': 'Status filter' }, h('option', { value: '' }, 'All statuses'),
    STATUSES.map((s) => h('option', { value: s }, s)));
  const body = h('tbody', {});
  const pos = h('span', { class: 'muted' });
  const prev = h('button', { disabled: true }, 'Previous');
  const next = h('button', { disabled: true }, 'Next');
  const tokens = [null];
  let at = 0;
  async function load() {
    const req = { stateMachineArn: arn, maxResults: 25 };
    if (filter.value) req.statusFilter = filter.value;
    if (tokens[at]) req.nextToken = tokens[at];
    const r = await api('ListExecutions', req);
    tokens[at + 1] = r.nextToken || null;
    body.replaceChildren(...r.executions.map((x) => h('tr', {},
      h('td', {}, h('a', { href: '#/exec/' + encodeURIComponent(x.executionArn) }, x.name)),
      h('td', {}, badge(x.status)), h('td', { class: 'ran' }, x.stateMachineVersionArn ? nameOf(x.stateMachineVersionArn) : '',
        x.stateMachineAliasArn ? ' (' + nameOf(x.stateMachineAliasArn) + ')' : ''),
      h('td', {}, fmtTime(x.startDate)), h('td', {}, fmtTime(x.stopDate)),
      h('td', { class: 'num' }, x.redriveCount || 0))));
    if (!r.executions.length) body.append(h('tr', { class: 'empty' }, h('td', { colspan: 6, class: 'muted' }, 'No executions')));
    rowNav(body);
    prev.disabled = at === 0;
    next.disabled = !r.nextToken;
    pos.textContent = 'Page ' + (at + 1);
  }
  filter.onchange = () => { tokens.length = 1; at = 0; load().catch(fail); };
  prev.onclick = () => { at--; load().catch(fail); };
  next.onclick = () => { at++; load().catch(fail); };
  box.replaceChildren(h('div', { class: 'toolbar' }, filter, prev, pos, next),
    h('table', { class: 'executions' }, h('thead', {}, h('tr', {}, ['Name', 'Status', 'Version (alias)', 'Started', 'Ended', 'Redrives']
      .map((c) => h('th', { scope: 'col' }, c)))), body));
  return load();
}

// ---- actions ---------------------------------------------------------------------------
async function startDialog(arn, input) {
  if (input === undefined) {
    input = '{}';
    try {
      const r = await api('ListExecutions', { stateMachineArn: arn, maxResults: 1 });
      if (r.executions.length) input = (await api('DescribeExecution', { executionArn: r.executions[0].executionArn })).input;
    } catch (e) { /* the empty input then */ }
  }
  const name = h('input', { id: 'start-name', 'aria-label': 'Execution name (optional)', placeholder: 'name (optional)' });
  const text = h('textarea', { id: 'start-input', 'aria-label': 'Input (JSON)' });
  text.value = pretty(input);
  confirmDialog('Start an execution of ' + nameOf(arn), h('div', {}, h('p', {}, name), text), 'Start', async () => {
    JSON.parse(text.value);
    const req = { stateMachineArn: arn, input: text.value };
    if (name.value) req.name = name.value;
    const r = await api('StartExecution', req);
    location.hash = '#/exec/' + encodeURIComponent(r.executionArn);
  });
}

function stopDialog(arn) {
  confirmDialog('Stop ' + nameOf(arn) + '?', h('p', {}, 'The execution ends ABORTED; states not yet run do not run.'), 'Stop',
    async () => { await api('StopExecution', { executionArn: arn, error: 'Console', cause: 'Stopped from the sfnd console' }); route(); });
}

function redriveDialog(arn) {
  confirmDialog('Redrive ' + nameOf(arn) + '?', h('p', {}, 'The execution goes on from the states that did not succeed.'), 'Redrive',
    async () => { await api('RedriveExecution', { executionArn: arn }); route(); });
}

// ---- an execution --------------------------------------------------------------------------
async function pageExecution(arn) {
  const [sum, svgBox] = [await getJSON('/console/summary?' + q('executionArn', arn)), h('div', { class: 'graph' }, 'Laying out...')];
  const x = sum.execution;
  const head = h('div', {});
  const statePanel = h('section', { class: 'col', 'aria-live': 'polite', id: 'state-panel' },
    h('h2', {}, 'State'), h('p', { class: 'muted' }, 'Select a state in the graph (click, or Tab and Enter).'));
  const events = h('section', { 'aria-labelledby': 'e-h' });
  const saga = h('section', { 'aria-labelledby': 's-h' });
  const drill = h('section', { id: 'drill', 'aria-labelledby': 'i-h' });
  const io = h('div', { class: 'row' });
  main.replaceChildren(h('h1', {}, x.name), head,
    h('div', { class: 'row' }, h('section', { class: 'col', 'aria-labelledby': 'g-h' }, h('h2', { id: 'g-h' }, 'Graph'), legend(), svgBox, drill),
      statePanel), io, saga, events);
  const ctx = { arn, sum, svg: null, head, io, statePanel, events, saga, drill, page: 0, tokens: [null], sel: null, open: null };
  renderHead(ctx);
  ctx.svg = await loadGraph(svgBox, 'executionArn', arn);
  if (ctx.svg) {
    ctx.svg.addEventListener('click', (ev) => { const g = ev.target.closest('.state'); if (g) showState(ctx, g); });
    ctx.svg.addEventListener('keydown', (ev) => {
      const g = ev.target.closest('.state');
      if (g && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); showState(ctx, g); }
    });
  }
  colour(ctx);
  renderEvents(ctx);
  renderSaga(ctx);
  renderDrill(ctx);
  if (x.status === 'RUNNING') follow(ctx);
}

function legend() {
  return h('div', { class: 'legend', 'aria-label': 'Legend' },
    ['succeeded', 'retried', 'caught', 'failed', 'running'].map((s) => badge(s)),
    h('span', { class: 'badge muted' }, 'not reached'), h('span', { class: 'badge errpath' }, 'error/compensation path (reached by a Catch)'));
}

function renderHead(ctx, via) {
  const x = ctx.sum.execution;
  const acts = h('div', { class: 'toolbar' },
    x.status === 'RUNNING' ? h('button', { id: 'stop', onclick: () => stopDialog(ctx.arn) }, 'Stop') : null,
    ['FAILED', 'ABORTED', 'TIMED_OUT'].includes(x.status) ? h('button', { id: 'redrive', onclick: () => redriveDialog(ctx.arn) }, 'Redrive') : null,
    h('button', { id: 'start-again', onclick: () => startDialog(x.stateMachineArn, x.input) }, 'Start again'),
    x.status === 'RUNNING' ? h('span', { class: 'live', id: 'live', 'data-via': via || '' }, via ? 'live (' + (via === 'sse' ? 'server-sent events' : 'long-poll') + ')' : 'live') : null);
  ctx.head.replaceChildren(kv([['Status', badge(x.status)], ['State machine', h('a', { href: '#/sm/' + encodeURIComponent(x.stateMachineArn) }, nameOf(x.stateMachineArn))],
    ['Version', x.stateMachineVersionArn ? h('a', { href: '#/sm/' + encodeURIComponent(x.stateMachineVersionArn), id: 'exec-version' },
      nameOf(x.stateMachineVersionArn)) : null],
    ['Alias', x.stateMachineAliasArn ? h('span', { id: 'exec-alias', title: x.stateMachineAliasArn }, nameOf(x.stateMachineAliasArn)) : null],
    ['Started', fmtTime(x.startDate)], ['Ended', fmtTime(x.stopDate)], ['Redrives', String(x.redriveCount || 0)],
    ['Events', String(ctx.sum.eventCount)], ['Error', x.error], ['Cause', x.cause]]), acts);
  ctx.io.replaceChildren(h('div', { class: 'col' }, h('h2', {}, 'Execution input'), h('pre', { tabindex: '0', id: 'exec-input' }, pretty(x.input))),
    h('div', { class: 'col' }, h('h2', {}, 'Execution output'), h('pre', { tabindex: '0', id: 'exec-output' }, pretty(x.output))));
}

// The nodes coloured by the summary's per-state status.
function colour(ctx) {
  if (!ctx.svg) return;
  ctx.svg.querySelectorAll('.state').forEach((g) => {
    g.classList.remove('s-succeeded', 's-failed', 's-caught', 's-retried', 's-running', 's-none');
    g.classList.add('s-none');
    g.querySelectorAll('.retries').forEach((t) => t.remove());
  });
  for (const [name, st] of Object.entries(ctx.sum.states)) {
    const g = ctx.svg.getElementById ? ctx.svg.getElementById(stateId(name)) : ctx.svg.querySelector('#' + stateId(name));
    if (!g) continue;
    g.classList.remove('s-none');
    g.classList.add('s-' + st.status);
    g.setAttribute('aria-label', 'State ' + name + ': ' + st.status + (st.retries ? ', ' + st.retries + ' retries' : ''));
    const label = g.querySelector('text');
    if (st.retries && label) {
      const t = document.createElementNS('http://www.w3.org/2000/svg', 'text');
      t.setAttribute('class', 'retries');
      t.setAttribute('x', String(Number(label.getAttribute('x')) + label.getComputedTextLength() / 2 + 4));
      t.setAttribute('y', String(Number(label.getAttribute('y')) - 6));
      t.textContent = '\u00d7' + (st.retries + 1);
      g.append(t);
    }
  }
  colourSelection(ctx);
}

const CLASSES = ['s-succeeded', 's-failed', 's-caught', 's-retried', 's-running', 's-none'];

// A selected Map iteration or Parallel branch: the states inside the
// container coloured by that iteration's path only.
function colourSelection(ctx) {
  if (!ctx.svg) return;
  ctx.svg.querySelectorAll('.selected').forEach((g) => g.classList.remove('selected'));
  const sel = ctx.sel;
  if (!sel) return;
  const box = ctx.svg.getElementById(stateId(sel.state));
  if (box) box.classList.add('selected');
  if (sel.type === 'Parallel') {
    const b = ctx.svg.getElementById(stateId(sel.state) + '-b' + sel.index);
    if (b) b.classList.add('selected');
  }
  for (const name of sel.members) {
    const g = ctx.svg.getElementById(stateId(name));
    if (!g) continue;
    const st = sel.states[name];
    g.classList.remove(...CLASSES);
    g.classList.add(st ? 's-' + st.status : 's-none');
    g.setAttribute('aria-label', 'State ' + name + ' in ' + sel.label + ': ' + (st ? st.status : 'not reached'));
  }
}

// The Map iterations and Parallel branches of the container open in the
// drill-down (the first one with any when none is), paged.
async function renderDrill(ctx) {
  const names = Object.keys(ctx.sum.containers || {});
  if (!names.length) { ctx.drill.replaceChildren(); return; }
  if (!ctx.open || !ctx.sum.containers[ctx.open]) ctx.open = names[0];
  ctx.drillAt = ctx.drillAt || 0;
  const c = ctx.sum.containers[ctx.open];
  const limit = 25;
  const url = '/console/iterations?' + q('executionArn', ctx.arn) + '&' + q('state', ctx.open) + '&offset=' + ctx.drillAt +
    '&limit=' + limit + (ctx.drillStatus ? '&' + q('status', ctx.drillStatus) : '');
  const r = await getJSON(url);
  const what = r.type === 'Map' ? 'iteration' : 'branche';
  const pick = h('select', { id: 'drill-state', 'aria-label': 'Map or Parallel state' },
    names.map((n) => h('option', { value: n, selected: n === ctx.open }, n + ' (' + ctx.sum.containers[n].type + ')')));
  pick.onchange = () => { ctx.open = pick.value; ctx.drillAt = 0; ctx.sel = null; colour(ctx); renderDrill(ctx).catch(fail); };
  const filter = h('select', { id: 'drill-status', 'aria-label': 'Status filter' }, h('option', { value: '' }, 'All statuses'),
    Object.keys(c.byStatus).map((st) => h('option', { value: st, selected: st === ctx.drillStatus }, st + ' (' + c.byStatus[st] + ')')));
  filter.onchange = () => { ctx.drillStatus = filter.value; ctx.drillAt = 0; renderDrill(ctx).catch(fail); };
  const body = h('tbody', {}, r.items.map((it) => {
    const label = (it.context ? it.context + ' / ' : '') + r.state + (r.type === 'Map' ? '[' + it.index + ']' : ' branch ' + (it.index + 1));
    const row = h('tr', { class: 'iter' + (ctx.sel && ctx.sel.state === r.state && ctx.sel.index === it.index && ctx.sel.context === it.context ? ' current' : ''),
      'data-index': it.index, 'aria-label': label + ': ' + it.status },
    h('td', { class: 'num' }, r.type === 'Map' ? it.index : it.index + 1), h('td', {}, badge(it.status)), h('td', {}, it.context || ''),
    h('td', {}, Object.keys(it.states).length + ' state(s)'));
    row.onselect = () => {
      ctx.sel = { state: r.state, type: r.type, index: it.index, context: it.context, states: it.states, members: r.members, label };
      colour(ctx);
      body.querySelectorAll('tr.current').forEach((x) => x.classList.remove('current'));
      row.classList.add('current');
      selInfo.replaceChildren('Showing ', h('strong', {}, label), ' (' + it.status + ') in the graph. ',
        h('button', { id: 'drill-clear', onclick: () => { ctx.sel = null; colour(ctx); renderDrill(ctx).catch(fail); } }, 'Show all'));
    };
    row.addEventListener('click', row.onselect);
    return row;
  }));
  if (!r.items.length) body.append(h('tr', { class: 'empty' }, h('td', { colspan: 4, class: 'muted' }, 'None')));
  const selInfo = h('p', { id: 'drill-sel', 'aria-live': 'polite' }, ctx.sel ? ['Showing ', h('strong', {}, ctx.sel.label), ' in the graph. ',
    h('button', { id: 'drill-clear', onclick: () => { ctx.sel = null; colour(ctx); renderDrill(ctx).catch(fail); } }, 'Show all')]
    : h('span', { class: 'muted' }, 'Select a row (click, or arrows and Enter) to colour its path in the ' + r.type + '.'));
  const prev = h('button', { disabled: ctx.drillAt === 0, onclick: () => { ctx.drillAt = Math.max(0, ctx.drillAt - limit); renderDrill(ctx).catch(fail); } }, 'Previous');
  const next = h('button', { disabled: ctx.drillAt + limit >= r.matched, onclick: () => { ctx.drillAt += limit; renderDrill(ctx).catch(fail); } }, 'Next');
  ctx.drill.replaceChildren(h('h2', { id: 'i-h' }, r.type === 'Map' ? 'Map iterations' : 'Parallel branches'),
    h('div', { class: 'toolbar' }, pick, filter, prev,
      h('span', { class: 'muted' }, r.matched ? (ctx.drillAt + 1) + '-' + (ctx.drillAt + r.items.length) + ' of ' + r.matched + ' ' + (r.matched > 1 ? what + 's' : what.replace(/e$/, '')) : 'none'), next),
    selInfo,
    h('table', { class: 'iterations' }, h('thead', {}, h('tr', {}, [r.type === 'Map' ? 'Index' : 'Branch', 'Status', 'Within', 'States']
      .map((t) => h('th', { scope: 'col' }, t)))), body));
  rowNav(body);
}

function showState(ctx, g) {
  const hex = g.id.slice(3);
  const name = new TextDecoder().decode(new Uint8Array(hex.match(/../g).map((b) => parseInt(b, 16))));
  const inSel = ctx.sel && ctx.sel.members.includes(name);
  const st = inSel ? ctx.sel.states[name] : ctx.sum.states[name];
  if (ctx.sum.containers && ctx.sum.containers[name] && ctx.open !== name) {
    ctx.open = name; ctx.drillAt = 0; ctx.drillStatus = ''; ctx.sel = null;
    colour(ctx);
    renderDrill(ctx).catch(fail);
  }
  if (!st) {
    ctx.statePanel.replaceChildren(h('h2', {}, name), h('p', { class: 'muted' }, inSel ? 'Not reached in ' + ctx.sel.label + '.' : 'Not reached in this execution.'));
    return;
  }
  const flow = h('div', { id: 'dataflow' }, h('p', { class: 'muted' }, 'Loading the data flow...'));
  fill(ctx.statePanel, h('h2', {}, name),
    inSel ? h('p', { class: 'muted' }, 'In ' + ctx.sel.label + '.') : null,
    kv([['Type', st.type], ['Status', badge(st.status)], ['Entered', st.entered + ' time(s)'], ['Attempts', String(st.attempts)],
      ['Retries', String(st.retries)], ['Entered at', fmtTime(st.enteredAt)], ['Exited at', fmtTime(st.exitedAt)],
      ['Duration', st.exitedAt && st.enteredAt ? ((st.exitedAt - st.enteredAt) * 1000).toFixed(0) + ' ms' : ''],
      ['Error', st.error], ['Cause', st.cause ? h('pre', {}, pretty(st.cause)) : null]]),
    st.truncated ? h('p', { class: 'muted' }, 'Payloads cut at 16 KB; the events below have them whole.') : null,
    inSel ? null : [h('h3', {}, 'Input'), h('pre', { tabindex: '0', class: 'state-input' }, pretty(st.input)),
      h('h3', {}, 'Output'), h('pre', { tabindex: '0', class: 'state-output' }, pretty(st.output))],
    flow);
  let url = '/console/state?' + q('executionArn', ctx.arn) + '&' + q('state', name);
  if (inSel) url += '&' + q('container', ctx.sel.state) + '&index=' + ctx.sel.index;
  getJSON(url).then((d) => renderFlow(flow, d)).catch((e) => { flow.textContent = e.message; });
}

// One visit's data-flow steps (recorded, or recomputed by TestState) and
// its attempts with their timings.
function renderFlow(box, d) {
  const ms = (a, b) => (a && b ? Math.round((b - a) * 1000) + ' ms' : '');
  fill(box, h('h3', {}, 'Data flow' + (d.visits > 1 ? ' (last of ' + d.visits + ' visits)' : '') + (d.context ? ' in ' + d.context : '')),
    d.recomputeNote ? h('p', { class: 'muted note' }, d.recomputeNote) : null,
    (d.dataflow || []).map((f) => h('div', { class: 'df df-' + f.step },
      h('h4', {}, f.label, ' ', f.source === 'recomputed' ? h('span', { class: 'badge recomputed', title: 'computed by TestState, not recorded in the history' }, 'recomputed')
        : h('span', { class: 'badge recorded' }, 'from the history')),
      h('pre', { tabindex: '0' }, pretty(f.value)))),
    d.error ? kv([['Error', d.error], ['Cause', h('pre', {}, pretty(d.cause))]]) : null,
    d.attempts && d.attempts.length ? [h('h3', {}, 'Attempts'), h('table', { class: 'attempts' },
      h('thead', {}, h('tr', {}, ['#', 'Scheduled', 'Took', 'Waited before', 'Outcome', 'Error'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, d.attempts.map((a) => h('tr', {}, h('td', { class: 'num' }, a.attempt), h('td', {}, fmtTime(a.scheduledAt)),
        h('td', { class: 'num' }, ms(a.scheduledAt, a.endedAt)), h('td', { class: 'num' }, a.waitBefore !== undefined ? Math.round(a.waitBefore * 1000) + ' ms' : ''),
        h('td', {}, a.outcome || 'running'), h('td', {}, a.error || '')))))] : null);
  rowNav(box.querySelector('table.attempts tbody'));
}

async function renderEvents(ctx) {
  const req = { executionArn: ctx.arn, maxResults: PAGE };
  if (ctx.tokens[ctx.page]) req.nextToken = ctx.tokens[ctx.page];
  const r = await api('GetExecutionHistory', req);
  ctx.tokens[ctx.page + 1] = r.nextToken || null;
  const t0 = ctx.sum.execution.startDate;
  const rows = r.events.map((e) => {
    const dk = Object.keys(e).find((k) => k.endsWith('EventDetails'));
    const d = dk ? e[dk] : null;
    const si = ctx.sum.eventStep[e.id - 1];
    return h('tr', {}, h('td', { class: 'num' }, e.id), h('td', {}, e.type),
      h('td', {}, si >= 0 && si !== undefined ? ctx.sum.stepNames[si] : ''),
      h('td', {}, d && d.resource ? nameOf(d.resource) : ''),
      h('td', { class: 'num' }, Math.round((e.timestamp - t0) * 1000) + ' ms'),
      h('td', {}, fmtTime(e.timestamp)),
      h('td', {}, d ? h('details', {}, h('summary', {}, 'details'), h('pre', {}, JSON.stringify(d, (k, v) =>
        (typeof v === 'string' && /^[[{]/.test(v) ? (() => { try { return JSON.parse(v); } catch (x) { return v; } })() : v), 2))) : ''));
  });
  const prev = h('button', { disabled: ctx.page === 0, onclick: () => { ctx.page--; renderEvents(ctx).catch(fail); } }, 'Previous');
  const next = h('button', { disabled: !r.nextToken, onclick: () => { ctx.page++; renderEvents(ctx).catch(fail); } }, 'Next');
  ctx.events.replaceChildren(h('h2', { id: 'e-h' }, 'Events'),
    h('div', { class: 'pager' }, prev, h('span', { class: 'muted' }, 'Events ' + (ctx.page * PAGE + 1) + '-' + (ctx.page * PAGE + r.events.length) +
      ' of ' + ctx.sum.eventCount), next),
    h('table', { class: 'events' }, h('thead', {}, h('tr', {}, ['ID', 'Type', 'Step', 'Resource', 'Elapsed', 'Timestamp', 'Details']
      .map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
  rowNav(ctx.events.querySelector('tbody'));
}

async function renderSaga(ctx) {
  let trip = '';
  try { const i = JSON.parse(ctx.sum.execution.input || '{}'); trip = i.tripId || (i.trip && i.trip.tripId) || ''; } catch (e) { /* none */ }
  const s = await getJSON('/console/saga?' + q('executionArn', ctx.arn) + (trip ? '&' + q('tripId', trip) : ''));
  if (!s.bookings.length && !s.alerts.length) { ctx.saga.replaceChildren(); return; }
  fill(ctx.saga, h('h2', { id: 's-h' }, 'Saga: bookings and alerts'),
    h('table', { class: 'bookings' }, h('thead', {}, h('tr', {}, ['Trip', 'Kind', 'Status', 'This execution', 'Owner', 'Cancel attempts']
      .map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, s.bookings.map((b) => h('tr', {}, h('td', {}, b.tripId), h('td', {}, b.kind), h('td', {}, b.status),
      h('td', {}, b.heldByThis ? 'holds it' : b.undoneByThis ? 'undid it' : ''), h('td', {}, b.owner ? nameOf(b.owner) : ''),
      h('td', { class: 'num' }, b.cancelAttempts))))),
    s.alerts.length ? [h('h3', {}, 'Alerts (parked trips)'), s.alerts.map((a) => h('pre', { class: 'alert' }, a.topic + ': ' + JSON.stringify(a.message, null, 2)))] : []);
}

// Live: server-sent events (/console/events: one answer per new event,
// EventSource reconnecting with the last id); where EventSource is missing
// or its stream fails, long-poll the existing waiter a second at a time.
// After each update the summary, the graph's colours, the events and the
// drill-down are fetched again (one refresh at a time).
function follow(ctx) {
  const me = { close: () => {} };
  live = me;
  let busy = false, again = false;
  const refresh = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const sum = await getJSON('/console/summary?' + q('executionArn', ctx.arn));
        if (live !== me) return;
        ctx.sum = sum;
        renderHead(ctx, me.via);
        colour(ctx);
        await renderEvents(ctx).catch(() => {});
        await renderDrill(ctx).catch(() => {});
        if (sum.execution.status !== 'RUNNING') { me.close(); renderSaga(ctx).catch(() => {}); }
      } while (again && live === me);
    } catch (e) { /* the next update tries again */ } finally { busy = false; }
  };
  if (window.EventSource) {
    me.via = 'sse';
    const es = new EventSource('/console/events?' + q('executionArn', ctx.arn) + '&since=' + ctx.sum.eventCount);
    me.close = () => es.close();
    es.addEventListener('update', refresh);
    es.addEventListener('end', () => { es.close(); refresh(); });
    es.onerror = () => { if (es.readyState === EventSource.CLOSED && live === me) longPoll(ctx, me, refresh); };
  } else longPoll(ctx, me, refresh);
  renderHead(ctx, me.via);
}

async function longPoll(ctx, me, refresh) {
  me.via = 'long-poll';
  renderHead(ctx, me.via);
  while (live === me) {
    let x;
    try { x = await api('Sfnd.WaitExecution', { executionArn: ctx.arn, timeoutSeconds: 1 }); } catch (e) { break; }
    if (live !== me) break;
    await refresh();
    if (x.status !== 'RUNNING') break;
  }
}

// ---- routing ------------------------------------------------------------------------------
function route() {
  if (live) live.close();
  live = null;
  const hash = location.hash || '#/';
  let p;
  if (hash.startsWith('#/sm/')) p = pageMachine(decodeURIComponent(hash.slice(5)));
  else if (hash.startsWith('#/exec/')) p = pageExecution(decodeURIComponent(hash.slice(7)));
  else p = pageMachines();
  p.then(() => { document.title = (main.querySelector('h1') || {}).textContent + ' - sfnd console'; }).catch(fail);
}

window.addEventListener('hashchange', route);
route();
