/**
 * @module auth/report
 * Small helpers the auth parsers share to report config problems: every issue carries its YAML path and file,
 * and a parser keeps going after a problem so an author sees all of them in one pass.
 */
import { joinPath } from '../config/path.js';
import type { ConfigIssue } from '../errors.js';

/** Where a section sits: its YAML path (e.g. `auth`, `url.chat.kwargs.auth`) and the file it came from. */
export interface SectionContext {
  path: string;
  file: string;
}

/** Records an issue at `path` (already joined) with the section's file. */
export type Report = (path: string, message: string) => void;

export function reporter(ctx: SectionContext, issues: ConfigIssue[]): Report {
  return (path, message) => {
    issues.push({ path, file: ctx.file, message });
  };
}

export const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reports every key of `entry` that is not in `known`, so a typo (`secert:`) never silently disables a control. */
export function checkKeys(entry: Record<string, unknown>, known: readonly string[], path: string, report: Report): void {
  for (const key of Object.keys(entry)) {
    if (!known.includes(key)) report(joinPath(path, key), `unknown key; expected one of ${known.join(', ')}`);
  }
}

export { joinPath };
