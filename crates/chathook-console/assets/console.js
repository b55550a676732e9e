// chathook console: plain script, no framework, no build step, nothing loaded from elsewhere.
//
// Every string that comes from the server is put in the page with textContent (see `el`),
// never parsed as HTML. The API token travels only in the Authorization header, never in a URL;
// that is why the live stream is read with fetch() rather than EventSource.
//
// A record's fields are those of `RecordJson` in src/wire.rs, which `chathook tail` reads too;
// a test there checks that this script reads no field of a record the struct does not have.
'use strict';

(() => {
  const TOKEN_KEY = 'chathook.apiToken';
  const OUTCOMES = ['ok', 'fallback', 'failed', 'timed_out', 'rejected', 'unrouted'];
  const MAX_ROWS = 500;
  const COUNTS_MINUTES = 15;
  const COUNTS_EVERY_MS = 5000;
  const READINESS_EVERY_MS = 10000;
  const RECONNECT_MAX_MS = 10000;

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    overview: null,
    filters: { command: '', outcome: '', app: '' },
    records: new Map(), // id -> record, for the rows in the table
    lastId: 0, // highest record id seen, for reconnecting with after=
    paused: false,
    pending: new Map(), // id -> record that arrived while paused, oldest first (at most MAX_ROWS)
    selected: null,
    generation: 0, // bumped on every reload of the table: older streams and answers are ignored
    session: 0, // bumped on sign-in and sign-out: older timers' answers are ignored
    stream: null, // AbortController of the running stream
    timers: [],
  };

  // ---- small helpers --------------------------------------------------------------------

  /** An element with attributes and children; strings become text nodes, never HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const svgNs = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(svgNs, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    node.replaceChildren();
    return node;
  }

  /** `07:31:02.123` (UTC) from a record's unix_ms. */
  function clock(ms, withMillis = true) {
    if (typeof ms !== 'number') return '';
    const iso = new Date(ms).toISOString();
    return withMillis ? iso.slice(11, 23) : iso.slice(11, 19);
  }

  function ms(value) {
    if (typeof value !== 'number') return '';
    return value < 10 ? `${value.toFixed(2)} ms` : `${value.toFixed(1)} ms`;
  }

  function badge(outcome) {
    const name = outcome || 'unknown';
    return el('span', { class: `badge outcome o-${name}` }, name);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  /** GET an /api/v1 path with the token. Throws ApiError on a non-2xx answer. */
  async function api(path, options = {}) {
    const response = await fetch(`/api/v1${path}`, {
      ...options,
      headers: { Accept: 'application/json', Authorization: `Bearer ${state.token}` },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const error = new ApiError(response.status, body);
      if (response.status === 401) signOut(error.message);
      throw error;
    }
    return body;
  }

  function filterQuery(extra) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state.filters)) {
      if (value) params.set(key, value);
    }
    for (const [key, value] of Object.entries(extra || {})) {
      if (value !== null && value !== undefined) params.set(key, String(value));
    }
    const text = params.toString();
    return text ? `?${text}` : '';
  }

  // ---- sign in / out --------------------------------------------------------------------

  async function signIn(token, fromForm) {
    state.token = token;
    const loginError = $('login-error');
    loginError.textContent = '';
    let overview;
    try {
      overview = await api('/overview');
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      showLogin(error instanceof ApiError ? error.message : `The server could not be reached: ${error.message}`);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    if (fromForm) $('token').value = '';
    start(overview);
  }

  function showLogin(message) {
    show($('app'), false);
    show($('login-view'), true);
    $('login-error').textContent = message || '';
    $('token').focus();
  }

  function signOut(message) {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.overview = null;
    showLogin(message);
  }

  function stop() {
    document.dispatchEvent(new CustomEvent('chathook:stop'));
    state.generation += 1;
    state.session += 1;
    if (state.stream) state.stream.abort();
    state.stream = null;
    for (const timer of state.timers) clearInterval(timer);
    state.timers = [];
    state.records.clear();
    state.pending.clear();
    state.lastId = 0;
    state.selected = null;
    clear($('callbacks').tBodies[0]);
    clear($('notices'));
    closeDetail();
    setStreamStatus('off', 'not connected');
  }

  // ---- the running page -----------------------------------------------------------------

  function start(overview) {
    stop();
    state.overview = overview;
    show($('login-view'), false);
    show($('app'), true);
    $('version').textContent = overview.version ? `v${overview.version}` : '';
    $('buffer-info').textContent = `keeps the last ${overview.recent} callbacks` +
      (overview.capture_bodies ? ', with bodies' : '');
    fillAppFilter(overview.apps || []);
    renderRoutes();
    setUpReadReceipts(overview);
    const session = state.session;
    reload();
    refreshCounts(session);
    refreshReadiness(session);
    state.timers.push(setInterval(() => refreshCounts(session), COUNTS_EVERY_MS));
    state.timers.push(setInterval(() => refreshReadiness(session), READINESS_EVERY_MS));
    // The Deliveries view (deliveries.js) works with the same token through the same helper.
    document.dispatchEvent(new CustomEvent('chathook:start', { detail: { api, el, clear, show, ApiError } }));
  }

  function fillAppFilter(apps) {
    const select = $('filter-app');
    const current = select.value;
    clear(select).append(el('option', { value: '' }, 'all'));
    for (const app of apps) {
      select.append(el('option', { value: app.name }, `${app.name} (${app.sdk_app_id})`));
    }
    select.value = apps.some((app) => app.name === current) ? current : '';
    state.filters.app = select.value;
  }

  function readFilters() {
    state.filters = {
      command: $('filter-command').value.trim(),
      outcome: $('filter-outcome').value,
      app: $('filter-app').value,
    };
  }

  /**
   * Restarts the stream with the current filters and, once it is open, fills the table from
   * the buffer. In that order nothing falls between the two (the stream opened without `after`
   * sends what comes after its `open`; the list holds what came before; ids de-duplicate), and
   * no `after` is sent that could make the server count records older than its buffer as missed.
   */
  function reload() {
    state.generation += 1;
    const generation = state.generation;
    if (state.stream) state.stream.abort();
    state.stream = null;
    state.records.clear();
    state.pending.clear();
    state.lastId = 0;
    clear($('callbacks').tBodies[0]);
    updatePauseButton();
    updateEmpty();
    setFilterError(null);
    runStream(generation);
  }

  async function loadList(generation) {
    const limit = Math.max(1, Math.min(MAX_ROWS, (state.overview && state.overview.recent) || MAX_ROWS));
    let list;
    try {
      list = await api(`/callbacks${filterQuery({ limit })}`);
    } catch (error) {
      if (generation !== state.generation) return;
      if (!(error instanceof ApiError && error.status === 401)) setFilterError(error.message);
      return;
    }
    if (generation !== state.generation) return;
    for (const record of list.callbacks || []) addRecord(record);
    updateEmpty();
  }

  function setFilterError(message) {
    const node = $('filter-error');
    node.textContent = message || '';
    show(node, Boolean(message));
  }

  function setStreamStatus(kind, text) {
    const node = $('stream-status');
    node.dataset.state = kind;
    node.textContent = text;
  }

  // ---- the live stream (server-sent events over fetch) ----------------------------------

  async function runStream(generation) {
    let delay = 1000;
    let listed = false;
    while (generation === state.generation) {
      const controller = new AbortController();
      state.stream = controller;
      setStreamStatus('connecting', 'connecting…');
      let opened = false;
      // The first connection asks for what comes next; a reconnection for what came since.
      const after = listed ? state.lastId : null;
      try {
        const response = await fetch(`/api/v1/callbacks/stream${filterQuery({ after })}`, {
          headers: { Accept: 'text/event-stream', Authorization: `Bearer ${state.token}` },
          cache: 'no-store',
          credentials: 'omit',
          referrerPolicy: 'no-referrer',
          signal: controller.signal,
        });
        if (!response.ok) {
          let body = null;
          try {
            body = await response.json();
          } catch {
            body = null;
          }
          const error = new ApiError(response.status, body);
          if (response.status === 401) {
            signOut(error.message);
            return;
          }
          if (response.status === 400) {
            setFilterError(error.message);
            setStreamStatus('off', 'not connected');
            return;
          }
          throw error;
        }
        await readEvents(response.body, generation, (event) => {
          if (event.type === 'open') {
            opened = true;
            delay = 1000;
            setStreamStatus('live', state.paused ? 'live, paused' : 'live');
          }
          onEvent(event);
          if (event.type === 'open' && !listed) {
            listed = true;
            loadList(generation);
          }
        });
        // The server closed the stream (shutdown, restart): reconnect below.
      } catch (error) {
        if (controller.signal.aborted || generation !== state.generation) return;
        if (!opened) console.warn('chathook console: stream failed', error);
      }
      if (generation !== state.generation) return;
      setStreamStatus('reconnecting', `reconnecting in ${Math.round(delay / 1000)} s…`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    }
  }

  /** Reads a text/event-stream body, calling `onEventFn` for each complete event. */
  async function readEvents(body, generation, onEventFn) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let event = { type: 'message', id: null, data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (generation !== state.generation) return;
        buffer += decoder.decode(value, { stream: true });
        const lines = buffer.split(/\r\n|\r(?!$)|\n/);
        buffer = lines.pop();
        for (const line of lines) {
          if (line === '') {
            if (event.data.length > 0 || event.type !== 'message') {
              onEventFn({ type: event.type, id: event.id, data: event.data.join('\n') });
            }
            event = { type: 'message', id: null, data: [] };
            continue;
          }
          if (line.startsWith(':')) continue; // keep-alive comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? '' : line.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'event') event.type = value;
          else if (field === 'data') event.data.push(value);
          else if (field === 'id') event.id = value;
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  function onEvent(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (event.type === 'open') {
      if (typeof data.last_id !== 'number') return;
      if (data.last_id < state.lastId) {
        // Ids start again at 1: the server restarted with an empty buffer. Start afresh.
        notice('The server restarted: its buffer of recent callbacks started anew.');
        setTimeout(reload, 0);
        return;
      }
      // Records up to last_id are in the list (or did not match): resume after it at least.
      state.lastId = Math.max(state.lastId, data.last_id);
    } else if (event.type === 'callback') {
      if (state.paused) {
        if (!state.records.has(data.id) && !state.pending.has(data.id)) {
          state.pending.set(data.id, data);
          // Only the newest MAX_ROWS would be shown on resume: keep no more.
          if (state.pending.size > MAX_ROWS) state.pending.delete(state.pending.keys().next().value);
        }
        state.lastId = Math.max(state.lastId, data.id);
        updatePauseButton();
      } else {
        addRecord(data);
        updateEmpty();
      }
    } else if (event.type === 'update') {
      // The record again, once its last handler (an observer) ended after the answer.
      if (state.pending.has(data.id)) state.pending.set(data.id, data);
      if (!state.records.has(data.id)) return;
      state.records.set(data.id, data);
      const row = $('callbacks').querySelector(`tr[data-id="${data.id}"]`);
      if (row) row.replaceWith(recordRow(data));
      if (state.selected === data.id) showDetail(data.id);
    } else if (event.type === 'missed') {
      notice(`The live view fell behind: ${data.missed} callback${data.missed === 1 ? ' was' : 's were'} not shown here (they were still answered).`);
    }
  }

  function notice(text) {
    const list = $('notices');
    list.prepend(el('p', { class: 'notice' }, `${clock(Date.now(), false)} `, text));
    while (list.children.length > 3) list.lastElementChild.remove();
  }

  // ---- the callbacks table --------------------------------------------------------------

  function addRecord(record) {
    if (typeof record.id !== 'number' || state.records.has(record.id)) return;
    state.records.set(record.id, record);
    state.lastId = Math.max(state.lastId, record.id);
    const tbody = $('callbacks').tBodies[0];
    const row = recordRow(record);
    // Newest (highest id) on top; records almost always arrive in order, so look from the top.
    let before = tbody.firstElementChild;
    while (before && Number(before.dataset.id) > record.id) before = before.nextElementSibling;
    tbody.insertBefore(row, before);
    while (tbody.rows.length > MAX_ROWS) {
      const last = tbody.lastElementChild;
      state.records.delete(Number(last.dataset.id));
      last.remove();
    }
  }

  function recordRow(record) {
    const why = record.outcome === 'ok' ? '' : (record.explanation || record.error || record.reason || '');
    const app = record.app ?? (record.sdk_app_id ?? '—');
    const row = el('tr', { dataset: { id: String(record.id), outcome: record.outcome || '' }, tabindex: 0 },
      el('td', { class: 'time', title: record.time || '' }, clock(record.unix_ms)),
      el('td', { class: 'app', title: record.sdk_app_id != null ? String(record.sdk_app_id) : '' }, String(app)),
      el('td', { class: 'command', title: record.kind || '' }, record.command ?? '—'),
      el('td', {}, badge(record.outcome)),
      el('td', { class: 'num' }, record.status ?? ''),
      el('td', { class: 'num' }, ms(record.latency_ms)),
      el('td', { class: 'why', title: record.reason || '' }, why),
    );
    if (state.selected === record.id) row.classList.add('selected');
    return row;
  }

  function updateEmpty() {
    const count = $('callbacks').tBodies[0].rows.length;
    show($('callbacks-empty'), count === 0);
    const filtered = Object.values(state.filters).some(Boolean);
    $('callbacks-empty').textContent = filtered ? 'No callbacks match these filters.' : 'No callbacks yet.';
    $('callbacks-footer').textContent = count === 0 ? '' :
      `${count} shown${count >= MAX_ROWS ? ` (the newest ${MAX_ROWS})` : ''}, newest first.`;
  }

  function updatePauseButton() {
    const button = $('pause');
    button.setAttribute('aria-pressed', String(state.paused));
    button.classList.toggle('active', state.paused);
    const count = state.pending.size;
    button.textContent = state.paused ? `Resume${count ? ` (${count} new)` : ''}` : 'Pause';
    const status = $('stream-status');
    if (status.dataset.state === 'live') status.textContent = state.paused ? 'live, paused' : 'live';
  }

  function togglePause() {
    state.paused = !state.paused;
    if (!state.paused) {
      for (const record of state.pending.values()) addRecord(record);
      state.pending.clear();
      updateEmpty();
    }
    updatePauseButton();
  }

  // ---- detail ---------------------------------------------------------------------------

  const DETAIL_SKIP = new Set(['handlers', 'body', 'explanation']);
  // The contract's order; fields the server adds later follow in its order.
  const DETAIL_ORDER = ['id', 'time', 'unix_ms', 'sdk_app_id', 'app', 'command', 'kind', 'outcome',
    'status', 'latency_ms', 'reason', 'error', 'request_time', 'request_age_secs', 'client_ip',
    'opt_platform', 'body_bytes', 'body_truncated'];

  function showDetail(id) {
    const record = state.records.get(id);
    if (!record) return;
    state.selected = id;
    for (const row of $('callbacks').querySelectorAll('tr.selected')) row.classList.remove('selected');
    const row = $('callbacks').querySelector(`tr[data-id="${id}"]`);
    if (row) row.classList.add('selected');

    const detail = clear($('detail'));
    detail.append(el('div', { class: 'detail-title' }, badge(record.outcome), ' ',
      el('strong', {}, record.command ?? '(no command)'), ' ', el('span', { class: 'muted' }, `#${record.id}`)));
    if (record.explanation) detail.append(el('p', { class: `explanation o-border-${record.outcome}` }, record.explanation));

    const fields = el('table', { class: 'fields' });
    const keys = DETAIL_ORDER.filter((key) => key in record)
      .concat(Object.keys(record).filter((key) => !DETAIL_ORDER.includes(key)));
    for (const key of keys) {
      if (DETAIL_SKIP.has(key)) continue;
      const value = record[key];
      fields.append(el('tr', {}, el('th', {}, key), el('td', {}, value === null ? el('span', { class: 'muted' }, 'null') : String(value))));
    }
    detail.append(fields);

    detail.append(el('h3', {}, 'Handlers'));
    const handlers = record.handlers || [];
    if (handlers.length === 0) {
      detail.append(el('p', { class: 'muted small' }, 'No handler ran (unrouted, or refused before routing).'));
    } else {
      const table = el('table', { class: 'data compact handlers' },
        el('thead', {}, el('tr', {}, el('th', {}, 'name'), el('th', {}, 'role'), el('th', {}, 'result'),
          el('th', { class: 'num' }, 'latency'), el('th', {}, 'error'))));
      const tbody = el('tbody');
      for (const handler of handlers) {
        tbody.append(el('tr', {},
          el('td', {}, handler.name),
          el('td', {}, handler.role ?? ''),
          el('td', {}, handler.result ?? el('span', { class: 'muted' }, 'running')),
          el('td', { class: 'num' }, ms(handler.latency_ms)),
          el('td', { class: 'why' }, handler.error ?? '')));
      }
      table.append(tbody);
      detail.append(table);
    }

    detail.append(el('h3', {}, 'Body'));
    if (typeof record.body === 'string') {
      let text = record.body;
      if (!record.body_truncated) {
        try {
          text = JSON.stringify(JSON.parse(record.body), null, 2);
        } catch {
          text = record.body;
        }
      }
      detail.append(el('pre', { class: 'body' }, text));
      if (record.body_truncated) {
        detail.append(el('p', { class: 'muted small' }, `Truncated: ${record.body_bytes} bytes in all.`));
      }
    } else {
      const capturing = state.overview && state.overview.capture_bodies;
      detail.append(el('p', { class: 'muted small' }, capturing
        ? 'No body was read for this callback.'
        : 'Bodies are not captured (set [console] capture_bodies = true to keep them).'));
    }
    show($('detail-placeholder'), false);
    show(detail, true);
    show($('detail-close'), true);
  }

  function closeDetail() {
    state.selected = null;
    for (const row of $('callbacks').querySelectorAll('tr.selected')) row.classList.remove('selected');
    clear($('detail'));
    show($('detail'), false);
    show($('detail-close'), false);
    show($('detail-placeholder'), true);
  }

  // ---- routing table --------------------------------------------------------------------

  function renderRoutes() {
    const routes = (state.overview && state.overview.routes) || [];
    const needle = $('routes-filter').value.trim().toLowerCase();
    const enabledOnly = $('routes-enabled-only').checked;
    const tbody = clear($('routes').tBodies[0]);
    for (const route of routes) {
      const handlers = route.handlers || [];
      if (enabledOnly && !route.enabled) continue;
      const haystack = [route.command, route.kind, route.decider, ...handlers.map((h) => h.name)]
        .filter(Boolean).join(' ').toLowerCase();
      if (needle && !haystack.includes(needle)) continue;
      const handlerCell = el('td', { class: 'handlers-cell' });
      if (handlers.length === 0) handlerCell.append(el('span', { class: 'muted' }, 'none'));
      for (const handler of handlers) {
        const role = handler.role ?? 'disabled';
        handlerCell.append(el('span', { class: `handler role-${role}`, title: handler.source ? `from ${handler.source}` : null },
          handler.name, el('span', { class: 'role' }, role)));
      }
      tbody.append(el('tr', { dataset: { command: route.command || '' }, class: route.enabled ? null : 'disabled' },
        el('td', { class: 'command' }, route.command ?? '',
          route.open ? el('span', { class: 'tag', title: 'served through a pattern; not a fixed row of the routing table' }, 'open') : null),
        el('td', {}, route.kind ?? ''),
        handlerCell,
        el('td', {}, route.decider ?? el('span', { class: 'muted' }, '—')),
        el('td', {}, route.enabled ? el('span', { class: 'yes' }, 'yes') : el('span', { class: 'no' }, 'no'))));
    }
    const shown = tbody.rows.length;
    $('routes-count').textContent = `${shown} of ${routes.length}`;
    if (shown === 0) {
      tbody.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, routes.length ? 'No route matches.' : 'No routes.')));
    }
  }

  // ---- readiness ------------------------------------------------------------------------

  async function refreshReadiness(session) {
    let body;
    try {
      const response = await fetch('/readyz', { cache: 'no-store', credentials: 'omit' });
      body = await response.json();
    } catch (error) {
      if (session !== state.session) return;
      const status = $('readiness-status');
      status.className = 'badge not-ready';
      status.textContent = 'unreachable';
      $('readiness-checked').textContent = `Could not reach /readyz: ${error.message}`;
      return;
    }
    if (session !== state.session) return;
    const status = $('readiness-status');
    const ready = body.status === 'ready';
    status.className = `badge ${ready ? 'ready' : 'not-ready'}`;
    status.textContent = body.status ?? 'unknown';
    const tbody = clear($('readiness').tBodies[0]);
    const details = body.details || {};
    for (const [name, handlerState] of Object.entries(body.handlers || {})) {
      const detail = details[name];
      const detailText = detail === undefined || detail === null ? ''
        : (typeof detail === 'string' ? detail : JSON.stringify(detail));
      tbody.append(el('tr', { dataset: { handler: name } },
        el('td', {}, name),
        el('td', {}, el('span', { class: `badge ${handlerState === 'ready' ? 'ready' : 'not-ready'}` }, String(handlerState))),
        el('td', { class: 'why' }, detailText)));
    }
    if (tbody.rows.length === 0) {
      tbody.append(el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'No handler reports readiness.')));
    }
    $('readiness-checked').textContent = `Checked ${clock(Date.now(), false)} UTC.`;
  }

  // ---- counts chart ---------------------------------------------------------------------

  async function refreshCounts(session) {
    let counts;
    try {
      counts = await api(`/callbacks/counts?minutes=${COUNTS_MINUTES}`);
    } catch (error) {
      if (session !== state.session) return;
      $('chart-total').textContent = `counts unavailable: ${error.message}`;
      return;
    }
    if (session !== state.session) return;
    renderChart(counts);
  }

  function renderChart(counts) {
    const buckets = counts.buckets || [];
    const width = 380;
    const height = 130;
    const left = 28;
    const bottom = 16;
    const top = 6;
    const plotWidth = width - left - 4;
    const plotHeight = height - bottom - top;
    const max = Math.max(1, ...buckets.map((b) => b.total || 0));
    const step = buckets.length ? plotWidth / buckets.length : plotWidth;
    const barWidth = Math.max(1, step - (step > 3 ? 1 : 0));

    const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img',
      'aria-label': `Callbacks per ${counts.bucket_secs || 10} s over the last ${COUNTS_MINUTES} minutes` });
    chart.append(svg('line', { x1: left, y1: top + plotHeight, x2: width - 4, y2: top + plotHeight, class: 'axis' }));
    chart.append(svg('line', { x1: left, y1: top, x2: width - 4, y2: top, class: 'grid' }));
    chart.append(svg('text', { x: left - 4, y: top + 8, class: 'tick', 'text-anchor': 'end' }, String(max)));
    chart.append(svg('text', { x: left - 4, y: top + plotHeight, class: 'tick', 'text-anchor': 'end' }, '0'));

    const totals = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
    const reasons = new Map();
    buckets.forEach((bucket, index) => {
      const x = left + index * step;
      let y = top + plotHeight;
      const outcomes = bucket.outcomes || {};
      const parts = [];
      const known = OUTCOMES.concat(Object.keys(outcomes).filter((o) => !OUTCOMES.includes(o)));
      for (const outcome of known) {
        const n = outcomes[outcome] || 0;
        if (!n) continue;
        totals[outcome] = (totals[outcome] || 0) + n;
        parts.push(`${n} ${outcome}`);
        const h = (n / max) * plotHeight;
        y -= h;
        chart.append(svg('rect', { x: x.toFixed(2), y: y.toFixed(2), width: barWidth.toFixed(2), height: h.toFixed(2), class: `bar o-${outcome}` }));
      }
      for (const [reason, n] of Object.entries(bucket.reasons || {})) reasons.set(reason, (reasons.get(reason) || 0) + n);
      // One transparent column per bucket carries the tooltip.
      chart.append(svg('rect', { x: x.toFixed(2), y: top, width: step.toFixed(2), height: plotHeight, class: 'hit' },
        svg('title', {}, `${clock(bucket.start_ms, false)} UTC: ${parts.length ? parts.join(', ') : 'none'}`)));
    });
    if (buckets.length) {
      chart.append(svg('text', { x: left, y: height - 3, class: 'tick' }, clock(buckets[0].start_ms, false).slice(0, 5)));
      chart.append(svg('text', { x: width - 4, y: height - 3, class: 'tick', 'text-anchor': 'end' }, 'now'));
    }
    clear($('chart')).append(chart);

    const grand = buckets.reduce((sum, b) => sum + (b.total || 0), 0);
    $('chart-total').textContent = `${grand} callback${grand === 1 ? '' : 's'}, ${counts.bucket_secs || 10} s bars`;
    const legend = clear($('chart-legend'));
    for (const outcome of Object.keys(totals)) {
      legend.append(el('span', { class: 'legend-item', dataset: { outcome } },
        el('span', { class: `swatch o-bg-${outcome}` }), `${outcome} ${totals[outcome]}`));
    }

    const tbody = clear($('reasons').tBodies[0]);
    const sorted = [...reasons.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    for (const [reason, n] of sorted) {
      tbody.append(el('tr', { dataset: { reason } }, el('td', {}, reason), el('td', { class: 'num' }, n)));
    }
    show($('reasons'), sorted.length > 0);
    show($('reasons-empty'), sorted.length === 0);
  }

  // ---- read receipts --------------------------------------------------------------------

  function setUpReadReceipts(overview) {
    const enabled = (overview.handlers || []).some((h) => h.name === 'read_receipt');
    show($('rr-form'), enabled);
    show($('rr-disabled'), !enabled);
    clear($('rr-result'));
    const apps = overview.apps || [];
    const list = clear($('rr-apps'));
    for (const app of apps) list.append(el('option', { value: String(app.sdk_app_id) }, app.name));
    if (apps.length && !$('rr-app').value) $('rr-app').value = String(apps[0].sdk_app_id);
  }

  async function lookUpReadReceipt() {
    const app = $('rr-app').value.trim();
    const group = $('rr-group').value.trim();
    const seq = $('rr-seq').value.trim();
    const result = clear($('rr-result'));
    if (!app || !group || !seq) {
      result.append(el('p', { class: 'error' }, 'Give the SdkAppid, the group id and the MsgSeq.'));
      return;
    }
    const path = `/apps/${encodeURIComponent(app)}/groups/${encodeURIComponent(group)}/read-receipts/${encodeURIComponent(seq)}`;
    result.append(el('p', { class: 'muted' }, 'Looking up…'));
    let receipt;
    try {
      receipt = await api(path);
    } catch (error) {
      clear(result).append(el('p', { class: 'error', dataset: { status: error.status ?? '' } }, error.message));
      return;
    }
    clear(result);
    result.append(el('p', { class: 'rr-summary' },
      el('strong', {}, `${receipt.read_num} read`), ', ', el('strong', {}, `${receipt.unread_num} unread`),
      ` — message ${receipt.msg_seq} of ${receipt.group_id}`, receipt.group_type ? ` (${receipt.group_type})` : ''));
    const readers = receipt.readers || [];
    if (readers.length) {
      result.append(el('p', { class: 'small muted' }, `Readers seen (${readers.length}):`));
      result.append(el('ul', { class: 'readers' }, readers.map((reader) => el('li', {}, reader))));
    } else {
      result.append(el('p', { class: 'muted small' }, 'No reader named in the receipts received.'));
    }
    const first = receipt.first_event_time_ms;
    const last = receipt.last_event_time_ms;
    if (typeof first === 'number') {
      result.append(el('p', { class: 'muted small' }, `Events ${new Date(first).toISOString()}` +
        (typeof last === 'number' && last !== first ? ` to ${new Date(last).toISOString()}` : '')));
    }
  }

  // ---- wiring ---------------------------------------------------------------------------

  function wire() {
    const outcome = $('filter-outcome');
    for (const name of OUTCOMES) outcome.append(el('option', { value: name }, name));

    $('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      if (!token) {
        $('login-error').textContent = 'Enter an API token.';
        return;
      }
      signIn(token, true);
    });
    $('logout').addEventListener('click', () => signOut(''));

    // Enter in the command field fires both change and submit: reload once per new filter.
    const applyFilters = () => {
      const before = JSON.stringify(state.filters);
      readFilters();
      if (JSON.stringify(state.filters) !== before) reload();
    };
    $('filters').addEventListener('submit', (event) => {
      event.preventDefault();
      applyFilters();
    });
    $('filter-command').addEventListener('change', applyFilters);
    $('filter-outcome').addEventListener('change', applyFilters);
    $('filter-app').addEventListener('change', applyFilters);
    $('pause').addEventListener('click', togglePause);

    const tbody = $('callbacks').tBodies[0];
    const pick = (event) => {
      const row = event.target.closest('tr[data-id]');
      if (row) showDetail(Number(row.dataset.id));
    };
    tbody.addEventListener('click', pick);
    tbody.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        pick(event);
      }
    });
    $('detail-close').addEventListener('click', closeDetail);
    $('routes-filter').addEventListener('input', renderRoutes);
    $('routes-enabled-only').addEventListener('change', renderRoutes);
    $('rr-form').addEventListener('submit', (event) => {
      event.preventDefault();
      lookUpReadReceipt();
    });
  }

  function boot() {
    wire();
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved, false);
    else showLogin('');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
