/**
 * @module auth/claims
 * Turns a verified JWT payload into the msghub `User`. Every claim is copied (so membership rules and
 * expressions can read `roles`, `email`, `iss`…), then the `claims:` map sets user attributes from named
 * claims; `id` comes from `sub` unless mapped elsewhere. The user is frozen: nothing downstream rewrites who
 * someone is.
 */
import type { JWTPayload } from 'jose';
import { MhError } from '../errors.js';
import type { User } from '../types.js';
import { attribute } from './attribute.js';

/** Builds the user from `payload` with `claims` (attribute → claim). Throws MH_ERR_AUTH_REQUIRED without an id. */
export function userFromClaims(payload: JWTPayload, claims: Readonly<Record<string, string>>): User {
  const user: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (key !== '__proto__') user[key] = value;
  }
  for (const [attr, claim] of Object.entries(claims)) {
    const value = attribute(payload, claim);
    if (value === undefined) delete user[attr];
    else user[attr] = value;
  }
  const id = user.id;
  if (typeof id === 'number' && Number.isFinite(id)) user.id = String(id);
  else if (typeof id !== 'string' || id === '') {
    throw new MhError('MH_ERR_AUTH_REQUIRED', [], { message: `Authentication required: token has no usable "${claims.id}" claim for the user id` });
  }
  return Object.freeze(user) as User;
}
