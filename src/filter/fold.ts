/**
 * @module filter/fold
 * ASCII case folding of row values for `*=` / `!*=`, shared by every live filter of the process. The hub runs
 * one predicate per distinct filter per event, all on the same row object; without sharing, each filter with a
 * `*=` condition would fold the same (up to 64 KiB) value again. A {@link FoldMemo} per column remembers the
 * last two values it folded (two: a PUT is matched on the row after and then the row before, alternately per
 * filter), so a value is folded once per event per column however many filters test it.
 */

import { asciiLower } from './compare.js';

/** The last two values of one column and their folds. Compared by `===`: exact whatever the string. */
export class FoldMemo {
  private a = '';
  private aFolded = '';
  private b = '';
  private bFolded = '';

  /** `asciiLower(value)`, from memory when `value` is one of the last two folded. */
  fold(value: string): string {
    // Same string object: a pointer compare. Equal content in another object: still correct, and no dearer
    // than folding. Different lengths: answered at once.
    if (value === this.a) return this.aFolded;
    if (value === this.b) return this.bFolded;
    const folded = asciiLower(value);
    this.b = this.a;
    this.bFolded = this.aFolded;
    this.a = value;
    this.aFolded = folded;
    return folded;
  }
}

/**
 * Memos by column name. Columns are configuration, not client input, so this stays small; a memo keeps at most
 * two values alive (each at most one message long) until the next event replaces them.
 */
const memos = new Map<string, FoldMemo>();

/** The process-wide memo for a column name (created on first use). */
export function foldMemo(column: string): FoldMemo {
  let memo = memos.get(column);
  if (memo === undefined) memos.set(column, (memo = new FoldMemo()));
  return memo;
}
