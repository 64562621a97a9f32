/**
 * The docs stay true: every YAML example in README.md and docs/ parses, and the README's tour config compiles.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { compileService } from '../src/service.js';
import { ROOT } from './support/mounts.js';
import { tempDir } from './support/tmp.js';

const files = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const blocks = (file: string): string[] => [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('documentation examples', () => {
  it.each(files)('every YAML example in %s parses', (file) => {
    for (const [i, block] of blocks(file).entries()) {
      const doc = YAML.parseDocument(block);
      expect(doc.errors.map((e) => e.message), `${file} YAML block ${i + 1}`).toEqual([]);
    }
  });

  it("compiles the README tour's configuration with its expressions", async () => {
    const [, tour, hooks] = blocks('README.md'); // the first is "Use it in your project"
    const config = YAML.parse(tour!) as { url: { chat: { kwargs: Record<string, unknown> } } };
    Object.assign(config.url.chat.kwargs, YAML.parse(hooks!.replace(/^ {6}/gm, '')));
    const compiled = await compileService({ config, baseDir: tempDir() }, { log: () => {} });
    const chat = compiled.messageHandlers[0]!.config;
    expect(chat.open && chat.prepare && chat.modify).toBeTruthy();
    expect(chat.defaults.POST.map((d) => d.key)).toEqual(['to']);
  });
});
