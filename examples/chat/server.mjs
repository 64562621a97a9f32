#!/usr/bin/env node
// Directed chat between signed-in users: `node examples/chat/server.mjs [config.yaml] [--port N] [--host H]`.
//
// One of the demo users signs in (no password: a demo); ../shared/demo-server.mjs is the app around msghub that
// issues the token. This file adds presence: it counts who has the chat open (presence.mjs), so the handler mails
// only recipients who are away. Everything else is msghub's, from gramex.yaml.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDemo } from '../shared/demo-server.mjs';
import { track } from './presence.mjs';
import { USERS } from './users.mjs';

await runDemo({
  name: 'chat',
  here: path.dirname(fileURLToPath(import.meta.url)),
  cookie: 'chat_token',
  secretEnv: 'CHAT_SECRET',
  refuseName: (name) => (USERS.includes(name) ? null : `Sign in as one of ${USERS.join(', ')}`),
  me: () => ({ users: USERS }),
  // A user is online while one of their chat sockets is open. Seen before msghub's listener, which refuses what
  // it must (a bad token: 401) before the socket counts.
  onUpgrade(req, socket, user) {
    if (user !== null && new URL(req.url, 'http://x').pathname === '/messages') track(user, socket);
  },
});
