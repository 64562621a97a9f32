/**
 * @module alert/log
 * The one logging hook of the alert module. Alerts are side effects the sender never waits for, so every
 * problem (a skipped mail, a retry, a dead letter) is reported here instead of being thrown.
 */

export type AlertLogLevel = 'info' | 'warn' | 'error';

/** Receives one line per event. The core passes its own logger; tests pass a collector. */
export type AlertLog = (level: AlertLogLevel, msg: string) => void;

/**
 * Used when the caller passes no logger: warnings and errors go to stderr (an operator must see a lost alert),
 * routine progress is dropped so an embedding app's console stays quiet.
 */
export const defaultAlertLog: AlertLog = (level, msg) => {
  if (level !== 'info') console.error(`msghub:alert ${level}: ${msg}`);
};
