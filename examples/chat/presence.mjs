// Who has the chat open right now, in this process. server.mjs counts each user's open WebSockets; the
// handler's `prepare` asks `presence.offline(recipient)` to decide whether a message also goes out by email.
// (With several server processes, keep this in a shared store such as Redis instead.)
const open = new Map(); // user id → open sockets

export function track(user, socket) {
  open.set(user, (open.get(user) ?? 0) + 1);
  socket.once('close', () => {
    const n = open.get(user) - 1;
    if (n > 0) open.set(user, n);
    else open.delete(user);
  });
}

export function offline(user) {
  return !open.has(user);
}
