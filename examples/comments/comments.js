// Live comment widget for msghub. Renders user text with textContent only: never as HTML.
const list = document.getElementById('comments');
const form = document.getElementById('new-comment');
const status = document.getElementById('status');
const template = document.getElementById('comment-template');

// The MessageHandler lives at `messages` next to this page.
const wsUrl = new URL('messages', location.href);
wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

let socket;
let retry = 0;
const items = new Map(); // id → <li>

function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle('error', isError);
}

function render(li, msg) {
  if ('body' in msg) li.querySelector('.body').textContent = msg.body ?? '';
  if ('user' in msg) li.querySelector('.author').textContent = msg.user ?? 'anonymous';
  if ('timestamp' in msg && msg.timestamp) {
    const time = li.querySelector('time');
    time.dateTime = msg.timestamp;
    time.textContent = new Date(msg.timestamp).toLocaleString();
  }
}

function add(msg) {
  const li = template.content.firstElementChild.cloneNode(true);
  li.dataset.id = msg.id;
  render(li, msg);
  li.querySelector('.delete').addEventListener('click', () => send({ _method: 'DELETE', id: msg.id }));
  li.querySelector('.edit').addEventListener('click', () => edit(li));
  items.set(msg.id, li);
  list.prepend(li);
}

function edit(li) {
  const body = li.querySelector('.body');
  const box = document.createElement('textarea');
  box.value = body.textContent;
  box.rows = 3;
  const save = document.createElement('button');
  save.type = 'button';
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
  const close = () => { editor.remove(); body.hidden = false; };
  cancel.addEventListener('click', close);
  save.addEventListener('click', () => {
    send({ _method: 'PUT', id: li.dataset.id, body: box.value });
    close();
  });
  box.focus();
}

function onFrame(msg) {
  if (msg._error) return setStatus(`Error: ${msg._error.message}`, true);
  if (msg._method === 'DELETE') {
    items.get(msg.id)?.remove();
    items.delete(msg.id);
  } else if (msg._method === 'PUT') {
    const li = items.get(msg.id);
    if (li) render(li, msg);
  } else if (!items.has(msg.id)) {
    add(msg); // history rows (no _method) and new POSTs
  }
}

function send(msg) {
  if (socket?.readyState !== WebSocket.OPEN) return setStatus('Not connected: try again in a moment', true);
  socket.send(JSON.stringify(msg));
}

function connect() {
  socket = new WebSocket(wsUrl);
  socket.addEventListener('open', () => { retry = 0; setStatus('Connected'); });
  socket.addEventListener('message', (e) => onFrame(JSON.parse(e.data)));
  socket.addEventListener('close', () => {
    setStatus('Disconnected: reconnecting…', true);
    // Start over from history on reconnect.
    items.clear();
    list.replaceChildren();
    setTimeout(connect, Math.min(10000, 500 * 2 ** retry++));
  });
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const body = form.body.value.trim();
  if (!body) return;
  send({ body });
  form.reset();
});

connect();
