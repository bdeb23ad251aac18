/**
 * Headless Chromium for UI tests: Debian's `chromium` package driven by `playwright-core`, which never downloads
 * a browser of its own. Install it with `apt-get install -y chromium`; CHROMIUM_PATH overrides the path.
 *
 * Pages only reach 127.0.0.1/localhost: everything else (e.g. the Temporal UI's news feed) is aborted before it
 * leaves the browser, and host resolution is off for any other name.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const hasChromium = (): boolean => existsSync(CHROMIUM_PATH);

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export async function launchChromium(): Promise<Browser> {
  if (!hasChromium())
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
  });
}

/** A page in a fresh context whose requests to anything but this machine are aborted (and counted). */
export async function newLocalPage(
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<{ page: Page; blocked: string[] }> {
  const context = await browser.newContext(options);
  const blocked: string[] = [];
  await context.route(
    (url) => !LOCAL_HOSTS.has(url.hostname) && url.protocol !== 'data:' && url.protocol !== 'blob:',
    (route) => {
      blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  return { page: await context.newPage(), blocked };
}
