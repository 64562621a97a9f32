/**
 * @module alert/compiled-template
 * The shape of a compiled alert template, apart from nunjucks (alert/templates.ts), so the declaration files of
 * everything that holds a template (the compiled config, hence the public API) never import nunjucks' types:
 * those are a devDependency, and a consumer compiling with `skipLibCheck: false` would get TS7016.
 */

/** A compiled template: `render(vars)` is synchronous and throws only on runtime errors (e.g. calling undefined). */
export interface CompiledTemplate {
  render(vars: object): string;
}
