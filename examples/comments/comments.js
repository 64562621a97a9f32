// Live comment widget on msghub's client. User text is rendered with textContent only: never as HTML.
//
// The client keeps the connection: it reconnects with backoff, resumes from the last event it saw (no gap, no
// duplicate, across server restarts), and queues comments posted while the server is away, sending each exactly
// once when it is back. This file only draws what it hears.
import { connect } from './msghub-client.js';

const $ = (id) => document.getElementById(id);
const list = $('comments');
const form = $('new-comment');
const status = $('status');
const template = $('comment-template');
const signIn = $('sign-in');

/** The signed-in user's id (the server's `user` column), or null. Buttons follow it; the server enforces it. */
let me = null;
let hub = null;
const items = new Map(); // id → <li>

function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle('error', isError);
}

/** Shows an error until the next success or state change replaces it. */
const showError = (err) => setStatus(`Error: ${err.message ?? err}`, true);

function render(li, row) {
  if ('body' in row) li.querySelector('.body').textContent = row.body ?? '';
  if ('user' in row) {
    li.dataset.user = row.user ?? '';
    li.querySelector('.author').textContent = row.user ?? 'anonymous';
  }
  if (row.timestamp) {
    const time = li.querySelector('time');
    time.dateTime = row.timestamp;
    time.textContent = new Date(row.timestamp).toLocaleString();
  }
  const mine = me !== null && li.dataset.user === me;
  for (const b of li.querySelectorAll('.actions button')) b.hidden = !mine;
}

/** Newest first. Ids are time-ordered text, so they sort in posting order. */
function insert(li) {
  const after = [...list.children].find((other) => other.dataset.id < li.dataset.id);
  list.insertBefore(li, after ?? null);
}

function add(row) {
  const li = template.content.firstElementChild.cloneNode(true);
  li.dataset.id = row.id;
  render(li, row);
  li.querySelector('.delete').addEventListener('click', () => send({ _method: 'DELETE', id: row.id }));
  li.querySelector('.edit').addEventListener('click', () => edit(li));
  items.set(row.id, li);
  insert(li);
}

function edit(li) {
  if (li.querySelector('.editor')) return;
  const body = li.querySelector('.body');
  const box = document.createElement('textarea');
  box.value = body.textContent;
  box.rows = 3;
  const save = document.createElement('button');
  save.type = 'button';
  save.className = 'save';
  save.textContent = 'Save';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'cancel';
  cancel.textContent = 'Cancel';
  const editor = document.createElement('div');
  editor.className = 'editor';
  editor.append(box, save, cancel);
  body.hidden = true;
  body.after(editor);
  const close = () => {
    editor.remove();
    body.hidden = false;
  };
  cancel.addEventListener('click', close);
  save.addEventListener('click', () => {
    send({ _method: 'PUT', id: li.dataset.id, body: box.value });
    close();
  });
  box.focus();
}

/** A history row (no _method) or a live POST / PUT / DELETE. */
function apply(row) {
  if (row._method === 'DELETE') {
    items.get(row.id)?.remove();
    items.delete(row.id);
  } else if (items.has(row.id)) {
    render(items.get(row.id), row);
  } else if (row._method !== 'PUT') {
    add(row);
  }
}

/** Sends through the client: queued while disconnected, acknowledged once stored. */
function send(msg) {
  return hub.send(msg).then(
    () => {
      if (status.classList.contains('error')) setStatus(hub.state === 'open' ? 'Connected' : 'Reconnecting…');
    },
    showError,
  );
}

const STATES = { connecting: 'Connecting…', open: 'Connected', reconnecting: 'Disconnected: reconnecting…', closed: 'Closed' };

function start() {
  hub?.close();
  items.clear();
  list.replaceChildren();
  const url = new URL('messages', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  hub = connect(url.href);
  hub.on('history', apply);
  hub.on('message', apply);
  hub.on('reset', () => {
    // The server could not resume: the history that follows replaces what we drew.
    items.clear();
    list.replaceChildren();
  });
  hub.on('state', (state) => setStatus(STATES[state] ?? state, state === 'reconnecting'));
  hub.on('error', showError);
}

async function whoAmI() {
  const res = await fetch('me', { cache: 'no-store' });
  return (await res.json()).user ?? null;
}

/** Identity is fixed when a socket opens, so signing in or out reconnects. */
function setUser(user) {
  me = user;
  signIn.hidden = me !== null;
  form.hidden = me === null;
  $('who').hidden = me === null;
  $('me').textContent = me ?? '';
  start();
}

signIn.addEventListener('submit', async (e) => {
  e.preventDefault();
  const res = await fetch('login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: signIn.name.value }),
  });
  const answer = await res.json().catch(() => ({ error: `sign-in failed (HTTP ${res.status})` }));
  if (!res.ok) return showError(answer.error);
  setUser(answer.user);
});

$('sign-out').addEventListener('click', async () => {
  await fetch('logout', { method: 'POST' });
  setUser(null);
});

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const body = form.body.value.trim();
  if (!body) return;
  send({ body });
  form.reset();
});

setUser(await whoAmI().catch(() => null));
