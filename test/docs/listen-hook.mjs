/**
 * Preloaded (`node --import`) into every process a documentation snippet starts, so a snippet runs as written
 * with the fixed ports its doc names (`server.listen(3000)`, the CLI's default 9988, `--port 8080`,
 * `--metrics-port 9464`): each TCP listen on a port becomes a listen on an ephemeral port of 127.0.0.1, and
 * `msghub-snippet: port <asked> -> <got>` goes to stderr (written before the program's own `listening` callbacks
 * run, so before the CLI's "listening on" line). test/docs/js-snippets.test.ts reads these lines to find the
 * program and to rewrite the doc's URLs (`localhost:9988` → the port it got). Unix sockets and handles pass
 * through untouched.
 */
import { writeSync } from 'node:fs';
import net from 'node:net';

const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  let asked = null;
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    asked = Number(first);
    const callback = args.find((a) => typeof a === 'function');
    args = callback ? [0, '127.0.0.1', callback] : [0, '127.0.0.1'];
  } else if (first !== null && typeof first === 'object' && !('_handle' in first) && !('fd' in first) && first.path === undefined) {
    // listen({ port, host, ... }[, callback])
    asked = Number(first.port ?? 0);
    const { ipv6Only: _ipv6Only, ...rest } = first;
    args = [{ ...rest, port: 0, host: '127.0.0.1' }, ...args.slice(1)];
  } else if (first === undefined || typeof first === 'function') {
    asked = 0; // listen() / listen(callback): an ephemeral port already
  }
  const result = listen.apply(this, args);
  if (asked !== null) {
    this.prependOnceListener('listening', () => {
      const address = this.address();
      if (address && typeof address === 'object') writeSync(2, `msghub-snippet: port ${asked} -> ${address.port}\n`);
    });
  }
  return result;
};
