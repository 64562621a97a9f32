// The comparison servers msghub is measured against, in the same run, on the same core:
//
//   ws-idiomatic  bare `ws`: JSON.parse, stringify once, `client.send(str)` per recipient
//   ws-best       bare `ws`, best possible: frame once, concatenate every frame of one event-loop turn once, one
//                 write of that shared Buffer per recipient per turn (no persistence, no filters)
//   sio           Socket.IO 4 `io.emit` (websocket transport only)
//   net           plain `net.Server` answering the upgrade with a canned 101 (memory/accept floor only)
//
// Every server parses each published message and broadcasts the same shape msghub does (the message plus
// `_method`, `id`, `timestamp` and `_seq`, user null), so every recipient gets the same number of bytes.
//
//   node bench/servers/baselines.mjs <kind> [port]      prints `listening <port>` on stdout
import http from 'node:http';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';

const kind = process.argv[2];
// The bench stops servers with SIGTERM: exit normally, so `--cpu-prof` (BENCH_NODE_ARGS) writes its profile.
process.on('SIGTERM', () => process.exit(0));
const port = Number(process.argv[3] ?? 0);
let seq = 0;

/** The broadcast form of a published message, as msghub builds it (same keys, same sizes). */
function stamp(obj) {
  obj.user = null;
  obj._method = 'POST';
  obj.id = Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');
  obj.timestamp = new Date().toISOString();
  obj._seq = ++seq;
  return obj;
}

function frameText(text) {
  const body = Buffer.from(text, 'utf8');
  const len = body.length;
  const h = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const f = Buffer.allocUnsafe(h + len);
  f[0] = 0x81;
  if (len < 126) f[1] = len;
  else if (len < 65536) {
    f[1] = 126;
    f.writeUInt16BE(len, 2);
  } else {
    f[1] = 127;
    f.writeBigUInt64BE(BigInt(len), 2);
  }
  body.copy(f, h);
  return f;
}

const toText = (data) => (Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data).toString('utf8'));

function listening(server) {
  server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
}

if (kind === 'ws-idiomatic') {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      let obj;
      try {
        obj = JSON.parse(toText(data));
      } catch {
        return;
      }
      const str = JSON.stringify(stamp(obj));
      for (const c of wss.clients) if (c.readyState === 1) c.send(str);
    });
  });
  listening(server);
} else if (kind === 'ws-best') {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  let turn = [];
  const flush = () => {
    const buf = turn.length === 1 ? turn[0] : Buffer.concat(turn);
    turn = [];
    for (const c of wss.clients) if (c.readyState === 1) c._sender.sendFrame([buf]);
  };
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      let obj;
      try {
        obj = JSON.parse(toText(data));
      } catch {
        return;
      }
      if (turn.push(frameText(JSON.stringify(stamp(obj)))) === 1) setImmediate(flush);
    });
  });
  listening(server);
} else if (kind === 'sio') {
  const { Server } = await import('socket.io');
  const server = http.createServer();
  const io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, httpCompression: false });
  io.on('connection', (socket) => {
    socket.on('msg', (obj) => {
      if (obj && typeof obj === 'object') io.emit('msg', stamp(obj));
    });
  });
  listening(server);
} else if (kind === 'net') {
  const reply = Buffer.from(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
  );
  const sockets = new Set();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    let seen = '';
    const onData = (d) => {
      seen += d.latin1Slice();
      if (seen.includes('\r\n\r\n')) {
        sock.off('data', onData);
        seen = '';
        sock.write(reply);
      }
    };
    sock.on('data', onData);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  listening(server);
} else {
  process.stderr.write(`unknown server kind ${kind}\n`);
  process.exit(2);
}
