// The demo's users. A real app asks its user directory.
export const USERS = ['alice', 'bob', 'carol'];
export const known = (id) => USERS.includes(id);
