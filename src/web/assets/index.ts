/**
 * The page's two static files, both ours and served from this process (nothing from a CDN): the stylesheet and the
 * live script. The script is TypeScript (../browser/live.ts) compiled by the package's build to
 * lib/web/browser/live.js, read from there. A checkout that runs from source (tsx, vitest) has no build: there it is
 * transpiled once, with the TypeScript compiler the checkout's dev dependencies have.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { STYLESHEET } from './style';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(text: string, type: string): Asset {
  const body = Buffer.from(text);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
}

let script: Promise<Asset> | undefined;

export const stylesheet = (): Asset => asset(STYLESHEET, 'text/css; charset=utf-8');

export function liveScript(): Promise<Asset> {
  return (script ??= loadScript().then((js) => asset(js, 'text/javascript; charset=utf-8')));
}

async function loadScript(): Promise<string> {
  const browser = path.join(__dirname, '..', 'browser');
  const built = path.join(browser, 'live.js');
  if (existsSync(built)) return readFileSync(built, 'utf8');
  const source = path.join(browser, 'live.ts');
  const ts = await import('typescript').catch(() => {
    throw new Error(`${built} is missing: build the package (npm run build)`);
  });
  return ts.transpileModule(readFileSync(source, 'utf8'), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.None },
    fileName: source,
  }).outputText;
}
