// gapify's name, version and home page for SARIF's tool.driver, from package.json.

import { createRequire } from 'node:module';
import type { ToolInfo } from './sarif.js';

interface PackageJson {
  version: string;
  homepage?: string;
  repository?: string | { url?: string };
}

/** Where a user learns about gapify: package.json's homepage, else its repository, else its npm page. */
export function toolInfo(): ToolInfo {
  // dist/src/lint/tool.js → package.json at the package root.
  const pkg = createRequire(import.meta.url)('../../../package.json') as PackageJson;
  const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  const fromRepo = repo?.replace(/^git\+/, '').replace(/\.git$/, '');
  const uri = pkg.homepage ?? (fromRepo && /^https?:\/\//.test(fromRepo) ? fromRepo : undefined) ?? 'https://www.npmjs.com/package/gapify';
  return { version: pkg.version, informationUri: uri };
}
