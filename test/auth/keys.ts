import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

/** A fixed "now" for every token test: 2026-01-01T00:00:00Z. */
export const NOW = Date.UTC(2026, 0, 1);
export const nowS = NOW / 1000;
export const SECRET = 'test-secret-that-is-long-enough-0123456789';

export interface KeyPair {
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicPem: string;
  privatePem: string;
  jwk: Record<string, unknown>;
}

export async function keyPair(alg: 'RS256' | 'ES256'): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, privateKey, publicPem: await exportSPKI(publicKey), privatePem: await exportPKCS8(privateKey), jwk: { ...(await exportJWK(publicKey)) } };
}

/** Signs `payload` (default: sub alice, issued now, valid an hour) with `alg` and `key`. */
export function sign(payload: JWTPayload, alg: string, key: CryptoKey | Uint8Array, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', iat: nowS, exp: nowS + 3600, ...payload }).setProtectedHeader({ ...header, alg }).sign(key);
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

const folders: string[] = [];

/** A fresh folder with `files` written into it; returns its path. `removeFolders()` deletes them all. */
export function folderWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'msghub-auth-'));
  folders.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

export function removeFolders(): void {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
}
