// chathook console: the Deliveries view. Pending and dead deliveries per queued handler (from
// /api/v1/deliveries/summary), one handler's list, one delivery's attempts, and Retry / Discard.
//
// Loaded before console.js, which owns the token: it announces a signed-in session with a
// `chathook:start` event carrying its `api` helper (the same token handling, a 401 signs out)
// and its DOM helpers, and ends it with `chathook:stop`. Server strings go in with textContent.
'use strict';

(() => {
  const REFRESH_EVERY_MS = 5000;
  const CONFIRM_MS = 4000;
  const $ = (id) => document.getElementById(id);

  const view = {
    kit: null, // { api, el, clear, show, ApiError } from console.js, while signed in
    session: 0, // bumped on start and stop: answers of an older session are ignored
    timer: null,
    handler: null, // the handler whose list is shown
    stateFilter: 'dead',
    selected: null, // the delivery whose attempts are shown
  };

  function when(ms) {
    return typeof ms === 'number' ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '';
  }

  function age(ms) {
    if (typeof ms !== 'number') return '';
    const secs = Math.round(ms / 1000);
    if (secs < 90) return `${secs} s`;
    if (secs < 5400) return `${Math.round(secs / 60)} min`;
    if (secs < 172800) return `${Math.round(secs / 3600)} h`;
    return `${Math.round(secs / 86400)} d`;
  }

  function setError(message) {
    const node = $('deliveries-error');
    node.textContent = message || '';
    view.kit.show(node, Boolean(message));
  }

  // ---- the summary ----------------------------------------------------------------------

  async function refresh(session) {
    const { api, ApiError } = view.kit;
    let summary;
    try {
      summary = await api('/deliveries/summary');
    } catch (error) {
      if (session !== view.session) return;
      if (error instanceof ApiError && error.status === 404) {
        showOff();
        return;
      }
      setError(`The deliveries could not be read: ${error.message}`);
      return;
    }
    if (session !== view.session) return;
    setError(null);
    renderSummary(summary);
    if (view.handler) await loadList(session);
  }

  function showOff() {
    const { show } = view.kit;
    show($('deliveries-off'), true);
    show($('deliveries-on'), false);
    $('deliveries-journal').textContent = '';
  }

  function renderSummary(summary) {
    const { el, clear, show } = view.kit;
    show($('deliveries-off'), false);
    show($('deliveries-on'), true);
    const journal = summary.journal || {};
    $('deliveries-journal').textContent =
      `${journal.database ?? ''}: ${journal.entries ?? 0} entries, ${journal.bytes ?? 0} bytes`;
    const tbody = clear($('deliveries-summary').tBodies[0]);
    for (const line of summary.handlers || []) {
      const pick = (state, count) => el('button', {
        type: 'button', class: 'link', dataset: { handler: line.handler, state },
        disabled: count === 0 && !(view.handler === line.handler && view.stateFilter === state),
      }, String(count));
      tbody.append(el('tr', { dataset: { handler: line.handler }, class: line.queued ? null : 'disabled' },
        el('td', {}, line.handler, line.queued ? null : el('span', { class: 'tag', title: 'no longer queued on this server' }, 'not queued')),
        el('td', { class: 'num pending' }, pick('pending', line.pending)),
        el('td', { class: 'num dead' }, pick('dead', line.dead)),
        el('td', {}, line.oldest_pending_age_ms == null ? el('span', { class: 'muted' }, '—') : age(line.oldest_pending_age_ms))));
    }
    if (tbody.rows.length === 0) {
      tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'No queued handler.')));
    }
  }

  // ---- one handler's list -----------------------------------------------------------------

  async function loadList(session) {
    const { api, el, clear, show } = view.kit;
    const handler = view.handler;
    const params = new URLSearchParams({ handler, state: view.stateFilter, limit: '100' });
    let listed;
    try {
      listed = await api(`/deliveries?${params}`);
    } catch (error) {
      if (session !== view.session) return;
      setError(error.message);
      return;
    }
    if (session !== view.session || handler !== view.handler) return;
    show($('deliveries-list-view'), true);
    $('deliveries-list-title').textContent = `${handler}: ${view.stateFilter}`;
    $('deliveries-state').value = view.stateFilter;
    const tbody = clear($('deliveries').tBodies[0]);
    for (const delivery of listed.deliveries || []) {
      tbody.append(el('tr', { dataset: { id: String(delivery.id), state: delivery.state }, tabindex: 0,
        class: view.selected === delivery.id ? 'selected' : null },
        el('td', { class: 'num' }, String(delivery.id)),
        el('td', { class: 'time' }, when(delivery.received_at_ms)),
        el('td', { class: 'command' }, delivery.command),
        el('td', {}, el('span', { class: `badge d-${delivery.state}` }, delivery.state)),
        el('td', { class: 'num' }, String(delivery.attempts)),
        el('td', { class: 'why', title: delivery.dead_reason || '' }, delivery.last_error ?? ''),
        el('td', { class: 'actions' }, actionButtons(delivery))));
    }
    const count = tbody.rows.length;
    show($('deliveries-empty'), count === 0);
    $('deliveries-empty').textContent = `No ${view.stateFilter} delivery of ${handler}.`;
  }

  function actionButtons(delivery) {
    const { el } = view.kit;
    return [
      delivery.state === 'delivered' ? null
        : el('button', { type: 'button', class: 'retry', dataset: { action: 'retry', id: String(delivery.id) } }, 'Retry'),
      el('button', { type: 'button', class: 'discard', dataset: { action: 'discard', id: String(delivery.id) } }, 'Discard'),
    ];
  }

  function chooseList(handler, state) {
    view.handler = handler;
    view.stateFilter = state;
    view.selected = null;
    closeDetail();
    loadList(view.session);
  }

  // ---- one delivery -----------------------------------------------------------------------

  async function showDelivery(id) {
    const { api, el, clear, show } = view.kit;
    const session = view.session;
    let delivery;
    try {
      delivery = await api(`/deliveries/${id}`);
    } catch (error) {
      if (session !== view.session) return;
      setError(error.message);
      return;
    }
    if (session !== view.session) return;
    view.selected = id;
    for (const row of $('deliveries').querySelectorAll('tr.selected')) row.classList.remove('selected');
    const row = $('deliveries').querySelector(`tr[data-id="${id}"]`);
    if (row) row.classList.add('selected');
    const detail = clear($('delivery-detail'));
    detail.append(el('div', { class: 'detail-title' },
      el('span', { class: `badge d-${delivery.state}` }, delivery.state), ' ',
      el('strong', {}, delivery.command), ' ', el('span', { class: 'muted' }, `delivery ${delivery.id} to ${delivery.handler}`),
      el('span', { class: 'spacer' }), actionButtons(delivery),
      el('button', { type: 'button', dataset: { action: 'close' } }, 'Close')));
    const facts = [
      ['received', when(delivery.received_at_ms)],
      ['next attempt', when(delivery.next_attempt_at_ms)],
      ['delivered', when(delivery.delivered_at_ms)],
      ['dead because', delivery.dead_reason],
      ['idempotency key', delivery.idempotency_key],
      ['conversation', delivery.conversation_key],
    ];
    const fields = el('table', { class: 'fields' });
    for (const [name, value] of facts) {
      if (value) fields.append(el('tr', {}, el('th', {}, name), el('td', {}, String(value))));
    }
    detail.append(fields);
    detail.append(el('h3', {}, `Attempts (${(delivery.attempts || []).length})`));
    const attempts = el('table', { class: 'data compact attempts' },
      el('thead', {}, el('tr', {}, el('th', { class: 'num' }, '#'), el('th', {}, 'started (UTC)'),
        el('th', { class: 'num' }, 'took'), el('th', {}, 'result'), el('th', {}, 'error'))));
    const tbody = el('tbody');
    for (const attempt of delivery.attempts || []) {
      tbody.append(el('tr', { dataset: { attempt: String(attempt.attempt) } },
        el('td', { class: 'num' }, String(attempt.attempt)),
        el('td', { class: 'time' }, when(attempt.started_at_ms)),
        el('td', { class: 'num' }, `${attempt.ended_at_ms - attempt.started_at_ms} ms`),
        el('td', {}, attempt.result),
        el('td', { class: 'why' }, attempt.error ?? '')));
    }
    attempts.append(tbody);
    detail.append(attempts);
    detail.append(el('h3', {}, 'Body'));
    let body = delivery.body;
    try {
      body = JSON.stringify(JSON.parse(delivery.body), null, 2);
    } catch {
      body = delivery.body;
    }
    detail.append(el('pre', { class: 'body' }, body));
    show(detail, true);
  }

  function closeDetail() {
    if (!view.kit) return;
    view.selected = null;
    view.kit.clear($('delivery-detail'));
    view.kit.show($('delivery-detail'), false);
  }

  // ---- actions ----------------------------------------------------------------------------

  async function act(button) {
    const { api } = view.kit;
    const { action, id } = button.dataset;
    if (action === 'close') {
      closeDetail();
      loadList(view.session);
      return;
    }
    // Discarding cannot be undone: the first click asks, a second within a few seconds does it.
    if (action === 'discard' && button.dataset.confirm !== 'yes') {
      button.dataset.confirm = 'yes';
      button.textContent = 'Confirm discard';
      setTimeout(() => {
        if (!button.isConnected) return;
        delete button.dataset.confirm;
        button.textContent = 'Discard';
      }, CONFIRM_MS);
      return;
    }
    button.disabled = true;
    const session = view.session;
    let answer;
    try {
      answer = await api(`/deliveries/${encodeURIComponent(id)}/${action}`, { method: 'POST' });
    } catch (error) {
      if (session !== view.session) return;
      button.disabled = false;
      setError(`${action} of delivery ${id}: ${error.message}`);
      return;
    }
    if (session !== view.session) return;
    const count = action === 'retry' ? answer.retried : answer.discarded;
    $('deliveries-done').textContent = action === 'retry'
      ? `Delivery ${id}: retried (${count}), due now.`
      : `Delivery ${id}: discarded.`;
    if (String(view.selected) === id) closeDetail();
    await refresh(session);
  }

  // ---- wiring -------------------------------------------------------------------------------

  function wire() {
    $('deliveries-summary').addEventListener('click', (event) => {
      const button = event.target.closest('button[data-handler]');
      if (button && view.kit) chooseList(button.dataset.handler, button.dataset.state);
    });
    $('deliveries-state').addEventListener('change', () => {
      if (view.kit && view.handler) chooseList(view.handler, $('deliveries-state').value);
    });
    $('deliveries-refresh').addEventListener('click', () => view.kit && refresh(view.session));
    const onClick = (event) => {
      if (!view.kit) return;
      const button = event.target.closest('button[data-action]');
      if (button) {
        act(button);
        return;
      }
      const row = event.target.closest('tr[data-id]');
      if (row && event.currentTarget === $('deliveries')) showDelivery(Number(row.dataset.id));
    };
    $('deliveries').addEventListener('click', onClick);
    $('delivery-detail').addEventListener('click', onClick);
    $('deliveries').addEventListener('keydown', (event) => {
      const row = event.target.closest('tr[data-id]');
      if (row && view.kit && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        showDelivery(Number(row.dataset.id));
      }
    });
  }

  document.addEventListener('chathook:start', (event) => {
    view.kit = event.detail;
    view.session += 1;
    view.handler = null;
    view.selected = null;
    const session = view.session;
    view.kit.show($('deliveries-list-view'), false);
    closeDetail();
    refresh(session);
    view.timer = setInterval(() => refresh(session), REFRESH_EVERY_MS);
  });

  document.addEventListener('chathook:stop', () => {
    view.session += 1;
    if (view.timer) clearInterval(view.timer);
    view.timer = null;
    if (view.kit) {
      closeDetail();
      view.kit.clear($('deliveries').tBodies[0]);
      view.kit.clear($('deliveries-summary').tBodies[0]);
    }
    view.kit = null;
  });

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', wire);
  else wire();
})();
