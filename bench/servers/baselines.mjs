// The comparison servers msghub is measured against, in the same run, on the same core:
//
//   ws-idiomatic  bare `ws`: JSON.parse, stringify once, `client.send(str)` per recipient
//   ws-best       bare `ws`, best possible: frame once, concatenate every frame of one event-loop turn once, one
//                 write of that shared Buffer per recipient per turn (no persistence, no filters)
//   sio           Socket.IO 4 `io.emit` (websocket transport only)
//   net           plain `net.Server` answering the upgrade with a canned 101 (memory/accept floor only)
//   net-best      no `ws` and no HTTP parser: a `net.Server` that does the handshake and reads frames itself, then
//                 broadcasts like ws-best (ingest only: what any Node WebSocket server could reach here, without
//                 the checks a real one owes its peers)
//
// Every server parses each published message and broadcasts the same shape msghub does (the message plus
// `_method`, `id`, `timestamp` and `_seq`, user null), so every recipient gets the same number of bytes.
//
//   node bench/servers/baselines.mjs <kind> [port]      prints `listening <port>` on stdout
import http from 'node:http';
import net from 'node:net';
import { createHash, randomUUID } from 'node:crypto';
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
} else if (kind === 'net-best') {
  // Only what this load needs: a handshake with a Sec-WebSocket-Key, unfragmented text frames from clients
  // (masked), and a close frame. No UTF-8 check, no size limit, no ping, no fragmentation.
  const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
  const open = new Set();
  let turn = [];
  const flush = () => {
    const buf = turn.length === 1 ? turn[0] : Buffer.concat(turn);
    turn = [];
    for (const s of open) s.write(buf);
  };
  /** Reads every whole frame in buf; returns the bytes of an incomplete one (or null). */
  const frames = (sock, buf) => {
    let off = 0;
    while (buf.length - off >= 2) {
      const b1 = buf[off + 1];
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        h = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        h = 10;
      }
      const m = b1 & 0x80 ? 4 : 0;
      if (buf.length - off < h + m + len) break;
      const opcode = buf[off] & 0x0f;
      const start = off + h + m;
      if (m) for (let i = 0; i < len; i++) buf[start + i] ^= buf[off + h + (i & 3)];
      off = start + len;
      if (opcode === 8) {
        sock.end();
        return null;
      }
      if (opcode !== 1) continue;
      let obj;
      try {
        obj = JSON.parse(buf.utf8Slice(start, start + len));
      } catch {
        continue;
      }
      if (turn.push(frameText(JSON.stringify(stamp(obj)))) === 1) setImmediate(flush);
    }
    return off < buf.length ? buf.subarray(off) : null;
  };
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    let head = Buffer.alloc(0); // handshake bytes so far; null once open
    let rest = null; // an incomplete frame
    sock.on('error', () => {});
    sock.on('close', () => open.delete(sock));
    sock.on('data', (chunk) => {
      if (head) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const key = /^sec-websocket-key:[ \t]*(\S+)/im.exec(head.latin1Slice(0, end))?.[1];
        if (!key) return void sock.destroy();
        const accept = createHash('sha1').update(key + GUID).digest('base64');
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        open.add(sock);
        chunk = head.subarray(end + 4);
        head = null;
      }
      rest = frames(sock, rest ? Buffer.concat([rest, chunk]) : chunk);
    });
  });
  listening(server);
} else {
  process.stderr.write(`unknown server kind ${kind}\n`);
  process.exit(2);
}
