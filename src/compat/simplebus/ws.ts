/**
 * @module compat/simplebus/ws
 * A SimpleBus client's WebSocket (SimpleBus listens on its own port, any path; here, any path the entry's
 * pattern matches). The first frame must be `{"type":"connect","data":"<user>","password":"<pw>"}`: a bad user
 * or password closes the socket with 1002 `NO AUTHORIZATION`; success sends nothing (as SimpleBus). Frames before
 * `connect` are dropped (as SimpleBus); frames sent right after it, while the password is being checked, wait
 * (at most MAX_EARLY) and are then handled in order.
 *
 * Once authenticated the socket is a subscriber of the handler (`open` with the SimpleBus codec, the filter
 * "`recipients` contains `|me|`" and the user as its scope), so its messages take the one intake and it hears
 * what is routed to it on any node; its confirmations are the codec's control intents. Then it gets its
 * pending deliveries (runtime.ts `connected`), and `{"type":"ping"}` every `ping_seconds`.
 */
import { MhError } from '../../errors.js';
import type { Subscriber } from '../../core/subscriber.js';
import type { Admitted } from '../../auth/gate.js';
import type { WsConnection } from '../../transport/ws-endpoint.js';
import type { Sink } from '../../transport/sink.js';
import type { Logger } from '../../log.js';
import { missingUidFrame, type Control, type WireMessage } from './codec.js';
import { parseWire } from './codec.js';
import type { BusConn, SimpleBusRuntime } from './runtime.js';

/** Frames kept while `connect` is being checked and the subscription opened; and frames dropped before it. */
const MAX_EARLY = 1000;
/** SimpleBus's close for a bad `connect` (1002 is "protocol error"). */
const NO_AUTHORIZATION = { code: 1002, reason: 'NO AUTHORIZATION' } as const;

export function openBusSocket(bus: SimpleBusRuntime, admitted: Admitted, log: Logger): (sink: Sink) => WsConnection {
  return (sink) => {
    // Read through a function: the socket's close changes it while `start` awaits.
    let state: 'new' | 'opening' | 'live' | 'closed' = 'new';
    const isClosed = (): boolean => state === 'closed';
    let conn: BusConn | null = null;
    const early: [string, number][] = [];
    /** Frames dropped before `connect`. */
    let dropped = 0;

    const feed = (s: Subscriber, text: string, bytes: number): void => {
      try {
        bus.handler.receive(s, text, bytes);
      } catch (err) {
        log('error', `url:${bus.handler.name}: a SimpleBus frame failed`, err);
      }
    };

    const start = async (text: string): Promise<void> => {
      let frame: Record<string, unknown>;
      try {
        const v = JSON.parse(text) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) return;
        frame = v as Record<string, unknown>;
      } catch {
        return;
      }
      if (frame.type !== 'connect') return; // SimpleBus ignores what an unauthenticated socket sends
      state = 'opening';
      if (bus.options.uidRequired && (frame.uid === undefined || frame.uid === null)) sink.sendText(missingUidFrame(frame), 0);
      const id = typeof frame.data === 'string' ? frame.data : '';
      const password = typeof frame.password === 'string' ? frame.password : '';
      let user;
      try {
        user = id ? await bus.users.verify(id, password, admitted.info.ip) : null;
      } catch (err) {
        // Too many password checks from this address (users.ts): 4429, the client tries again later.
        const e = err instanceof MhError ? err : new MhError('MH_ERR_INTERNAL');
        if (!(err instanceof MhError)) log('error', `url:${bus.handler.name}: SimpleBus connect failed`, err);
        state = 'closed';
        sink.close(e.closeCode ?? 1011, e.message);
        return;
      }
      if (isClosed()) return;
      if (!user) {
        state = 'closed';
        sink.close(NO_AUTHORIZATION.code, NO_AUTHORIZATION.reason);
        return;
      }
      const info = { ...admitted.info, user: { id: user.id } };
      const c: BusConn = { user: user.id, sink, sub: null };
      const s = await bus.handler.open(sink, info, {
        codec: bus.codec,
        filter: bus.filterFor(user.id),
        key: null,
        control: (sub, control) => onControl(bus, sub, c, control as Control, log),
      });
      if (!s) {
        state = 'closed';
        return;
      }
      if (isClosed()) {
        bus.handler.disconnect(s);
        return;
      }
      c.sub = s;
      conn = c;
      state = 'live';
      bus.connected(c);
      for (const [t, b] of early.splice(0)) feed(s, t, b);
    };

    return {
      receive(text: string, bytes: number): void {
        if (state === 'live') return feed(conn!.sub!, text, bytes);
        if (state === 'new') {
          void start(text).catch((err) => {
            log('error', `url:${bus.handler.name}: SimpleBus connect failed`, err);
            const e = new MhError('MH_ERR_INTERNAL');
            sink.close(e.closeCode!, e.message);
          });
          // Not a `connect` (start moves to 'opening' before its first await): dropped, as SimpleBus drops it. No
          // rate guard applies before a socket has a user, so only so many are dropped before the socket is closed.
          if ((state as string) === 'new' && ++dropped > MAX_EARLY) {
            state = 'closed';
            const e = new MhError('MH_ERR_EARLY_FLOOD', [MAX_EARLY]);
            sink.close(e.closeCode!, e.message);
          }
          return;
        }
        if (state === 'opening') {
          if (early.length < MAX_EARLY) early.push([text, bytes]);
          else {
            const e = new MhError('MH_ERR_EARLY_FLOOD', [MAX_EARLY]);
            sink.close(e.closeCode!, e.message);
          }
        }
      },
      close(): void {
        const was = state;
        state = 'closed';
        early.length = 0;
        if (was === 'live' && conn) {
          bus.disconnected(conn);
          bus.handler.disconnect(conn.sub!);
        }
      },
    };
  };
}

/** A SimpleBus request that is not a message: confirmations, a repeated connect, a frame without uid. */
function onControl(bus: SimpleBusRuntime, s: Subscriber, conn: BusConn, control: Control, log: Logger): void {
  switch (control.type) {
    case 'confirmation':
      void bus.confirm(conn.user, control.id, control.confirm).catch((err) => {
        log('warn', `simplebus: confirmation of ${control.id} by ${conn.user} failed`, err);
        s.sendError(new MhError('MH_ERR_STORE_UNAVAILABLE', ['the confirmation was not recorded; send it again']));
      });
      return;
    case 'connect':
    case 'ignore':
      return;
    case 'missing-uid': {
      // SimpleBus answers ERROR and still processes the frame.
      s.sink.sendText(missingUidFrame(control.frame), 0);
      const next = control.next;
      if (next.kind === 'control') return onControl(bus, s, conn, next.control as Control, log);
      if (next.kind === 'invalid') return s.sendError(next.error);
      if (next.kind !== 'message') return;
      // The message was decoded already: it goes to the one intake as an HTTP one would (this sender's later
      // frames may overtake it while it is routed; real SimpleUI clients always send uid).
      const msg = next.msg as unknown as { _wire: Record<string, unknown>; _direct?: boolean };
      const m: WireMessage = parseWire(msg._wire);
      const sent = msg._direct ? bus.submitDirect(conn.user, m) : bus.submit(conn.user, m);
      sent.catch((err) => s.fail(err));
      return;
    }
  }
}
