/**
 * @module config/yaml-file
 * Reads one YAML file into plain data, turning every read or syntax problem into a config issue with its
 * `line:column`, so a broken file is reported together with everything else that is wrong.
 */

import { readFile } from 'node:fs/promises';
import { parseDocument, YAMLError } from 'yaml';
import { catalog, formatMessage, type ConfigIssue } from '../errors.js';
import { ROOT_PATH } from './path.js';

/** The parsed document (undefined when it could not be parsed) and any issues found. */
export interface YamlResult {
  value: unknown;
  issues: ConfigIssue[];
}

/** Reads and parses `file`. Never throws. */
export async function readYamlFile(file: string): Promise<YamlResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    return { value: undefined, issues: [{ path: ROOT_PATH, file, message: formatMessage(catalog.MH_ERR_CONFIG_FILE.message, [file, reason]) }] };
  }
  return parseYaml(text, file);
}

/**
 * Parses YAML text. Merge keys (`<<:`) are on, as in PyYAML, which Gramex uses. Duplicate keys are errors and
 * warnings (such as an unresolved `!!python/...` tag) are issues too: both usually hide a typo.
 */
export function parseYaml(text: string, file: string): YamlResult {
  const doc = parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: true });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) return { value: undefined, issues: problems.map((e) => toIssue(e, file)) };
  try {
    // maxAliasCount bounds "billion laughs" alias expansion.
    return { value: doc.toJS({ maxAliasCount: 100 }), issues: [] };
  } catch (err) {
    return { value: undefined, issues: [{ path: ROOT_PATH, file, message: yamlMessage(String((err as Error).message)) }] };
  }
}

function toIssue(err: YAMLError, file: string): ConfigIssue {
  const pos = err.linePos?.[0];
  // prettyErrors appends a source excerpt on later lines; the first line is the sentence we want.
  const sentence = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  return { path: pos ? `${pos.line}:${pos.col}` : ROOT_PATH, file, message: yamlMessage(sentence) };
}

function yamlMessage(detail: string): string {
  return formatMessage(catalog.MH_ERR_CONFIG_YAML.message, [detail]);
}
