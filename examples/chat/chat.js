// Directed chat on msghub's client. User text is rendered with textContent only: never as HTML.
//
// Where things come from:
// - `messages` (WebSocket through the client): messages to me. The handler is durable: the server keeps my
//   acknowledged position, so when this page opens it sends what arrived since I last read (or, before my first
//   acknowledgement, everything): those are my unread messages.
// - `messages` and `sent` (HTTP GET, once): the older conversation, to me and from me, for display only.
// - my own sends: drawn from their acknowledgement.
// Reading a conversation acknowledges, so the unread counts survive a reload and follow me to another browser.
import { connect } from './msghub-client.js';

const $ = (id) => document.getElementById(id);
const status = $('status');
let me = null;
let users = [];
let peer = null; // whom the conversation pane shows
let hub = null;
const rows = new Map(); // id → {id, user, recipient, body, _seq}
const unread = new Map(); // id → _seq of a message to me I have not seen
const seen = new Set(); // ids I have seen (a durable re-send of one is not unread again)
let acked = 0; // the position last acknowledged
let received = 0; // the highest _seq received on the socket

function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle('error', isError);
}

const other = (row) => (row.user === me ? row.recipient : row.user);

function drawContacts() {
  const list = $('contacts');
  list.replaceChildren();
  for (const u of users.filter((x) => x !== me)) {
    const n = [...unread.keys()].filter((id) => rows.get(id)?.user === u).length;
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.user = u;
    b.setAttribute('aria-current', String(u === peer));
    const name = document.createElement('span');
    name.textContent = u;
    b.append(name);
    if (n > 0) {
      const badge = document.createElement('span');
      badge.className = 'unread';
      badge.textContent = String(n);
      b.append(badge);
    }
    b.addEventListener('click', () => show(u));
    const li = document.createElement('li');
    li.append(b);
    list.append(li);
  }
}

function drawConversation() {
  $('peer').textContent = peer ? `With ${peer}` : 'Pick someone to write to';
  $('compose').hidden = peer === null;
  const list = $('messages');
  list.replaceChildren();
  if (!peer) return;
  const talk = [...rows.values()].filter((r) => other(r) === peer).sort((x, y) => x._seq - y._seq);
  for (const r of talk) {
    const li = document.createElement('li');
    li.className = r.user === me ? 'msg mine' : 'msg';
    li.dataset.id = r.id;
    li.textContent = r.body;
    list.append(li);
  }
}

/** Marks what the open conversation shows as read, and acknowledges as far as nothing unread lies behind. */
function markRead() {
  if (peer && document.visibilityState === 'visible') {
    for (const id of [...unread.keys()]) {
      if (rows.get(id)?.user === peer) {
        unread.delete(id);
        seen.add(id);
      }
    }
  }
  // One position per user: acknowledge up to just before the oldest message still unread.
  const upTo = unread.size ? Math.min(...unread.values()) - 1 : received;
  if (upTo > acked && typeof hub?.ack === 'function') {
    hub.ack(upTo);
    acked = upTo;
  }
}

function redraw() {
  markRead();
  drawContacts();
  drawConversation();
}

function show(user) {
  peer = user;
  redraw();
  $('body').focus();
}

/** A message to me from the socket: history (first connection) or live / resumed. */
function receive(row) {
  if (row._method && row._method !== 'POST') return;
  rows.set(row.id, row);
  if (typeof row._seq === 'number') received = Math.max(received, row._seq);
  if (!seen.has(row.id)) unread.set(row.id, row._seq);
  redraw();
}

async function load(path) {
  const res = await fetch(path, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  for (const row of await res.json()) if (!rows.has(row.id)) rows.set(row.id, row);
}

async function start() {
  hub?.close();
  rows.clear();
  unread.clear();
  seen.clear();
  acked = received = 0;
  peer = null;
  if (!me) return;
  const url = new URL('messages', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  hub = connect(url.href);
  hub.on('history', receive);
  hub.on('message', receive);
  hub.on('state', (s) => setStatus({ open: 'Connected', connecting: 'Connecting…', reconnecting: 'Disconnected: reconnecting…' }[s] ?? s, s === 'reconnecting'));
  hub.on('error', (e) => setStatus(`Error: ${e.message}`, true));
  await Promise.all([load('messages'), load('sent')]).catch((e) => setStatus(`Error: ${e.message}`, true));
  redraw();
}

async function setUser(user) {
  me = user;
  $('sign-in').hidden = me !== null;
  $('who').hidden = me === null;
  $('app').hidden = me === null;
  $('me').textContent = me ?? '';
  await start();
}

$('compose').addEventListener('submit', async (e) => {
  e.preventDefault();
  const body = $('body').value.trim();
  if (!body || !peer) return;
  $('body').value = '';
  const to = peer;
  try {
    const ack = await hub.send({ recipient: to, body });
    rows.set(ack.id, { id: ack.id, user: me, recipient: to, body, _seq: ack._seq });
    if (hub.state === 'open') setStatus('Connected');
    redraw();
  } catch (err) {
    setStatus(`Error: ${err.message}`, true);
  }
});

$('sign-out').addEventListener('click', async () => {
  await fetch('logout', { method: 'POST' });
  await setUser(null);
});

document.addEventListener('visibilitychange', redraw);

const who = await (await fetch('me', { cache: 'no-store' })).json();
users = who.users;
for (const u of users) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = u;
  b.addEventListener('click', async () => {
    const res = await fetch('login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: u }) });
    if (res.ok) await setUser(u);
    else setStatus(`Error: ${(await res.json()).error}`, true);
  });
  $('sign-in-users').append(b);
}
await setUser(who.user);
