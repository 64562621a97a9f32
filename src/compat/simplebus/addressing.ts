/**
 * @module compat/simplebus/addressing
 * The pipeline's `prepare` for SimpleBus messages: who sent it (the authenticated user, always: a client's own
 * `sender` is overwritten), who it reaches, and the exact JSON they receive.
 *
 * Recipients are expanded here, at send time, from the users and tags in the database (users.ts `expand`), and
 * stored with the message as `|u1|u2|` (column `recipients`). That one column is what everything else reads:
 * - a subscriber's filter is "`recipients` contains `|me|`" (one substring test, given in code), so the hub
 *   delivers live on every node with no second predicate, and SimpleBus's sender rules (`$all` includes the
 *   sender, `#tag` excludes them) are decided once, here;
 * - the delivery rows (deliveries.ts) are one per recipient of that list, in the message's transaction;
 * - a tag added to a user after the send does not make them a recipient of earlier messages, and a tag removed
 *   does not take one back: the message went to whom the router chose when it routed it, as in SimpleBus.
 */
import type { ExprHandler } from '../../pipeline/defaults.js';
import { MhError } from '../../errors.js';
import type { Users } from './users.js';

/** Most recipients one message may have (each is a delivery row written in the message's transaction). */
export const MAX_RECIPIENTS = 100_000;

/** Builds `prepare({msg, handler})`. Notices (confirmation forwards, built by the adapter) pass untouched. */
export function routeMessage(users: () => Users): (scope: { msg: Record<string, unknown>; handler: ExprHandler }) => Promise<void> | void {
  return (scope) => {
    const { msg, handler } = scope;
    if (msg.notice !== null && msg.notice !== undefined) return;
    const wire = msg._wire as Record<string, unknown> | undefined;
    delete msg._wire;
    const sender = handler.current_user?.id;
    if (!wire || typeof sender !== 'string') throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['a SimpleBus message needs a bus user']);
    return users()
      .expand(sender, wire.to as string[])
      .then((recipients) => {
        if (recipients.length > MAX_RECIPIENTS) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`at most ${MAX_RECIPIENTS} recipients per message`]);
        // SimpleBus sets `sender` on the message it stores and delivers; a key already there keeps its place.
        wire.sender = sender;
        msg.sender = sender;
        msg.recipients = recipients.length ? `|${recipients.map((r) => r.id).join('|')}|` : '';
        const push = recipients.filter((r) => r.push);
        msg.push = push.length ? `|${push.map((r) => r.id).join('|')}|` : null;
        msg.body = JSON.stringify(wire);
      });
  };
}
