// torpor chat: the demo page's client for the example chat plugin. One
// WebSocket to /chat/<room> on the page's own host; the frames are listed in
// plugins/chat/main.go.
'use strict';

(() => {
  const BACKOFF_BASE = 250; // ms, first retry ceiling
  const BACKOFF_CAP = 10000; // ms
  const OUTBOX_MAX = 100; // messages kept while offline
  const PING_EVERY = 30000; // ms between heartbeats while online
  const PING_TIMEOUT = 10000; // ms to wait for any frame after a heartbeat
  const CONNECT_TIMEOUT = 10000; // ms from a new socket to its welcome
  const HINT_AFTER = 3; // connects in a row that fail before opening
  const MAX_SHOWN = 500; // messages kept on screen
  const MAX_TEXT = 4096; // bytes, as the plugin enforces
  const ROOM_RE = /^[A-Za-z0-9._~-]{1,256}$/;

  const $ = (sel) => document.querySelector(sel);
  const ui = {
    room: $('[data-testid=room]'),
    status: $('[data-testid=status]'),
    statusText: $('.status-text'),
    statusDetail: $('.status-detail'),
    retry: $('[data-testid=retry]'),
    nameForm: $('[data-testid=name-form]'),
    name: $('[data-testid=name-input]'),
    hint: $('[data-testid=hint]'),
    messages: $('[data-testid=messages]'),
    outbox: $('[data-testid=outbox]'),
    outboxList: $('[data-testid=outbox] ol'),
    composer: $('[data-testid=composer]'),
    text: $('[data-testid=message-input]'),
    members: $('[data-testid=members]'),
    count: $('[data-testid=member-count]'),
  };

  // localStorage throws in some privacy modes; the name is then not kept.
  const saved = {
    get: () => { try { return localStorage.getItem('torpor.name'); } catch { return null; } },
    set: (v) => { try { localStorage.setItem('torpor.name', v); } catch { /* not kept */ } },
  };

  const params = new URLSearchParams(location.search);
  let room = roomFromURL();
  let name = (params.get('name') ?? saved.get() ?? '').trim();

  let ws = null; // the current socket; null while offline
  let online = false; // ws has delivered its welcome
  let you = ''; // the name the room gave us
  let members = [];
  let attempt = 0; // failed connects since the last welcome
  let refusals = 0; // connects in a row that failed before opening
  let retryAt = 0;
  let retryTimer = 0;
  let tickTimer = 0;
  let pingTimer = 0;
  let pongTimer = 0;
  const outbox = []; // texts typed while offline, oldest first
  const shown = new Set(); // keys of the messages on screen

  // roomFromURL reads #NAME or ?room=NAME; anything else is the lobby.
  function roomFromURL() {
    let r = '';
    try { r = decodeURIComponent(location.hash.slice(1)); } catch { /* malformed */ }
    r = r || params.get('room') || 'lobby';
    if (ROOM_RE.test(r) && r !== '.' && r !== '..') return r;
    notice(`“${r}” is not a room name (use A–Z, a–z, 0–9, - _ . ~); showing the lobby.`, 'error');
    return 'lobby';
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(tickTimer);
    ui.retry.hidden = true;
    setStatus('connecting', 'connecting…');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${scheme}//${location.host}/chat/${encodeURIComponent(room)}?name=${encodeURIComponent(name)}`;
    let opened = false;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch {
      lost(false, {});
      return;
    }
    ws = sock;
    setTimeout(() => {
      if (sock !== ws || online) return;
      lost(opened, { reason: 'no welcome from the room' });
      sock.close();
    }, CONNECT_TIMEOUT);
    sock.onopen = () => { opened = true; };
    sock.onmessage = (ev) => { if (sock === ws) { heard(); receive(ev.data); } };
    // Handlers of a socket we have given up on (sock !== ws) do nothing.
    sock.onclose = (ev) => { if (sock === ws) lost(opened, ev); };
  }

  // lost handles the end of the current socket and schedules the next try.
  function lost(opened, ev) {
    ws = null;
    online = false;
    stopPing();
    ui.members.classList.add('stale');
    refusals = opened ? 0 : refusals + 1;
    if (refusals >= HINT_AFTER) diagnose();
    // Full jitter: a random delay below an exponentially growing ceiling.
    const ceiling = Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt);
    attempt = Math.min(attempt + 1, 16);
    const delay = Math.random() * ceiling;
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(connect, delay);
    const tick = () => {
      const s = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
      setStatus('offline', 'offline', `, retrying in ${s}s`);
    };
    tick();
    tickTimer = setInterval(tick, 1000);
    ui.retry.hidden = false;
    ui.status.title = ev.reason || (ev.code ? `closed with code ${ev.code}` : '');
  }

  // diagnose tells a server that is down from one that refuses the socket
  // (browsers hide the HTTP status of a refused upgrade from scripts).
  async function diagnose() {
    let up = false;
    try {
      up = (await fetch(location.pathname, { method: 'HEAD', cache: 'no-store' })).ok;
    } catch { /* unreachable */ }
    if (online) return;
    hint(up
      ? `The server is up but refuses to let you into #${room} as “${name || 'a guest'}”. ` +
        'Names are at most 32 bytes and some, like “admin”, are reserved: choose another name above.'
      : 'Cannot reach the server. Still trying…');
  }

  // restart drops the current socket, if any, and connects again at once.
  function restart() {
    const sock = ws;
    ws = null;
    online = false;
    stopPing();
    if (sock) sock.close(1000);
    attempt = 0;
    refusals = 0;
    hint('');
    connect();
  }

  function receive(data) {
    let f;
    try { f = JSON.parse(data); } catch { return; } // "pong"
    switch (f?.type) {
      case 'welcome':
        online = true;
        attempt = 0;
        refusals = 0;
        you = f.you;
        hint('');
        setStatus('online', 'online', ` as ${you}`);
        ui.status.title = '';
        setMembers(f.members);
        (f.history || []).forEach((m) => showMessage(m, true));
        flush();
        startPing();
        break;
      case 'join':
      case 'leave': {
        const before = members;
        setMembers(f.members);
        // A name can have several connections: only its first and last count.
        if (f.type === 'join' && !before.includes(f.name)) notice(`${f.name} joined`);
        if (f.type === 'leave' && !members.includes(f.name)) notice(`${f.name} left`);
        break;
      }
      case 'message':
        showMessage(f, false);
        break;
      case 'error':
        notice(`The room says: ${f.error}`, 'error');
        break;
    }
  }

  // send hands text to the live socket, or keeps it for the next welcome.
  // A text handed to a socket is never sent again, even if the socket dies.
  function send(text) {
    if (online && ws.readyState === WebSocket.OPEN) {
      ws.send(text);
    } else if (outbox.length < OUTBOX_MAX) {
      outbox.push(text);
      renderOutbox();
    } else {
      notice(`${OUTBOX_MAX} messages are already waiting; this one was not kept.`, 'error');
      return false;
    }
    return true;
  }

  function flush() {
    while (outbox.length && online && ws.readyState === WebSocket.OPEN) ws.send(outbox.shift());
    renderOutbox();
  }

  // The host answers "ping" with "pong" without waking the room. A socket
  // that stays silent after a ping is dead; drop it and reconnect.
  function startPing() {
    stopPing();
    pingTimer = setInterval(() => {
      if (!online) return;
      ws.send('ping');
      pongTimer = pongTimer || setTimeout(() => {
        const sock = ws;
        lost(true, { reason: 'no answer to ping' });
        sock.close();
      }, PING_TIMEOUT);
    }, PING_EVERY);
  }

  function heard() {
    clearTimeout(pongTimer);
    pongTimer = 0;
  }

  function stopPing() {
    clearInterval(pingTimer);
    heard();
    pingTimer = 0;
  }

  // Rendering.

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    e.append(...kids);
    return e;
  }

  function setStatus(state, text, detail = '') {
    ui.status.dataset.state = state;
    if (ui.statusText.textContent !== text) ui.statusText.textContent = text;
    ui.statusDetail.textContent = detail;
  }

  function hint(text) {
    if (ui.hint.textContent === text) return; // an alert repeats on every change
    ui.hint.textContent = text;
    ui.hint.hidden = !text;
  }

  function setMembers(list) {
    members = list || [];
    ui.members.replaceChildren(...members.map((n) => el('li', {},
      el('span', { class: 'name' }, n),
      ...(n === you ? [' ', el('span', { class: 'tag' }, 'you')] : []))));
    ui.count.textContent = members.length;
    ui.members.classList.remove('stale');
  }

  // showMessage shows a message. The history of a welcome repeats the
  // messages seen before a reconnect, so those are skipped when already
  // shown; live messages always show (two identical texts can share a
  // millisecond).
  function showMessage(m, fromHistory) {
    const key = `${m.ts}\n${m.from}\n${m.text}`;
    if (fromHistory && shown.has(key)) return;
    shown.add(key);
    const at = new Date(Number.isFinite(m.ts) ? m.ts : Date.now());
    append(el('li', { class: m.from === you ? 'msg mine' : 'msg', 'data-testid': 'message', 'data-key': key },
      el('span', { class: 'from' }, m.from), ' ',
      el('time', { datetime: at.toISOString(), title: at.toLocaleString() },
        at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
      el('p', { class: 'text' }, m.text)));
  }

  function notice(text, kind = 'info') {
    append(el('li', { class: `notice ${kind}`, 'data-testid': kind === 'error' ? 'room-error' : 'notice' }, text));
  }

  function append(li) {
    const list = ui.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(li);
    while (list.children.length > MAX_SHOWN) {
      shown.delete(list.firstElementChild.dataset.key);
      list.firstElementChild.remove();
    }
    if (atBottom || li.classList.contains('mine')) list.scrollTop = list.scrollHeight;
  }

  function renderOutbox() {
    ui.outboxList.replaceChildren(...outbox.map((t) => el('li', {}, t)));
    ui.outbox.hidden = outbox.length === 0;
  }

  function showRoom() {
    ui.room.textContent = `#${room}`;
    document.title = `#${room} · torpor chat`;
  }

  // Events.

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.text.value.trim();
    if (!text) return;
    if (text === 'ping') {
      // The host's auto-response for the heartbeat: it never reaches the room.
      notice('“ping” is answered by the host with “pong” and never reaches the room.', 'error');
      return;
    }
    if (new TextEncoder().encode(text).length > MAX_TEXT) {
      notice(`That message is longer than ${MAX_TEXT} bytes.`, 'error');
      return;
    }
    if (send(text)) ui.text.value = '';
  });

  ui.nameForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const n = ui.name.value.trim();
    saved.set(n);
    if (params.has('name')) {
      params.set('name', n);
      history.replaceState(null, '', `?${params}${location.hash}`);
    }
    if (n === name && online) return;
    name = n;
    restart();
    ui.text.focus();
  });

  ui.retry.addEventListener('click', () => { if (!ws) connect(); });
  addEventListener('online', () => { if (!ws) connect(); });
  addEventListener('hashchange', () => {
    const r = roomFromURL();
    if (r === room) return;
    room = r;
    ui.messages.replaceChildren();
    shown.clear();
    outbox.length = 0; // they were written for the other room
    renderOutbox();
    setMembers([]);
    showRoom();
    restart();
  });

  ui.name.value = name;
  showRoom();
  connect();
})();
