/**
 * The page as a Node request listener (`createWebHandler`): mount it in your own server, or run it with
 * `replicate-temporal web` (./server.ts). Plain `node:http` with a small router rather than a framework: about
 * fifteen routes, and a request listener mounts as it is in any Node server, Express included, next to the user's
 * own routes (the webhook handler is mounted the same way).
 *
 * Routes (under `basePath`): GET / (home), /pipelines/ID, /runs/ID, /events/... (their live streams),
 * /pipelines/ID/manifest.json, /files/KEY (the output store), /assets/...; GET+POST /login, POST /logout; POST
 * /runs/ID/cancel, /pipelines/ID/{cancel,approve,rerun}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { storeClaimStore } from '../activities/claims';
import { rerunPipeline } from '../client/rerun';
import { folderKey } from '../activities/output-files/folders';
import type { ManifestEntry } from '../activities/outputs';
import { outputStore } from '../activities/output-files/stores';
import type { OutputStore } from '../activities/output-files/store';
import {
  approveStep,
  cancelWorkflow,
  NOTICES,
  rerunFrom,
  WebActionError,
  type Notice,
  type RerunPipeline,
} from './actions';
import { liveScript, stylesheet, type Asset } from './assets';
import { WebAuth } from './auth';
import { keyOfFilePath, sendStoredFile, storeKeyOf } from './files';
import { html, type Html } from './html';
import { readForm, redirect, securityHeaders, sendHtml, sendText } from './http';
import { ListSource, type ListFilter, type ListRow } from './read/list';
import { NotThisKind, PipelineSource, type PipelineView } from './read/pipeline';
import { RunSource, type RunView } from './read/run';
import { TemporalReader, type WebStats } from './read/temporal';
import { openEventStream } from './sse';
import { pipelineHref, runHref, type ViewContext } from './views/context';
import { homeBody, listRegion } from './views/home';
import { page, type PageContext } from './views/layout';
import { loginBody } from './views/login';
import { pipelineBody, pipelineRegions } from './views/pipeline';
import { runBody, runRegions } from './views/run';
import { Hub, Watch, WATCH_INTERVALS } from './watch';

export interface WebHandlerOptions {
  /** your Temporal client, with the data converter your workers use (ENCRYPTION_KEY: createDataConverter) */
  client: Client;
  /** where the workers keep output files: OUTPUT_DIR's folder, OUTPUT_URL's `s3://bucket/prefix`, or a store (default `outputs`) */
  outputs?: string | OutputStore;
  /** the path the handler is mounted at, e.g. `/generations` (default: the root) */
  basePath?: string;
  /** every request then needs `Authorization: Bearer <it>` or a session from the login form (at least 16 characters) */
  authToken?: string;
  /** only requests with one of these Host headers are answered (a loopback page against DNS rebinding) */
  allowedHosts?: string[];
  /** the Temporal UI's base URL, for links to a workflow there */
  temporalUiUrl?: string | null;
  /** rerun a closed pipeline, from a step or reusing what succeeded (default the client's `rerunPipeline`; false: no rerun buttons) */
  rerunPipeline?: RerunPipeline | false;
  /** show approve/reject buttons on steps that wait for approval (default true) */
  approvals?: boolean;
  /** how the page writes the CLI in the commands it shows beside its buttons (default `npx replicate-temporal`) */
  cliCommand?: string;
  /** where the handler reports an unexpected error (default console.error) */
  log?: (line: string) => void;
}

/** The CLI as a user of the package runs it. */
export const DEFAULT_CLI_COMMAND = 'npx replicate-temporal';

export interface WebHandler {
  /** the request listener: `http.createServer(web.listener)`, `app.use('/generations', web.listener)` */
  listener(req: IncomingMessage & { originalUrl?: string }, res: ServerResponse): void;
  /** what the page has asked Temporal so far, the workflows watched now and the open live streams */
  stats(): WebStats & {
    reads: number;
    readMsAverage: number;
    readMsMax: number;
    watched: number;
    streams: number;
  };
  /** stop every poller and close every live stream */
  close(): Promise<void>;
}

export function createWebHandler(options: WebHandlerOptions): WebHandler {
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  if (basePath && !/^\/[A-Za-z0-9._~\-/]*$/.test(basePath))
    throw new TypeError(`basePath "${options.basePath}" must be a path such as /generations`);
  if (options.authToken !== undefined && options.authToken.length < 16)
    throw new TypeError('authToken must be at least 16 characters');
  const store = outputStore(options.outputs ?? 'outputs');
  const claims = storeClaimStore(store);
  const reader = new TemporalReader(options.client);
  const auth = new WebAuth(options.authToken, basePath || '/');
  const hub = new Hub();
  const keptRows = new Map<string, Partial<ListRow>>();
  const streams = new Set<ServerResponse>();
  const log = options.log ?? ((line: string) => console.error(line));
  const rerun = options.rerunPipeline === false ? undefined : (options.rerunPipeline ?? rerunPipeline);
  /** how long reads take: a change reaches the page about one interval plus one read after the workflow knows it */
  const reads = { count: 0, totalMs: 0, maxMs: 0 };
  const timed = async <T>(read: Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await read;
    } finally {
      const ms = Date.now() - started;
      reads.count++;
      reads.totalMs += ms;
      reads.maxMs = Math.max(reads.maxMs, ms);
    }
  };

  const viewContext = (csrf: string | null): ViewContext => ({
    basePath,
    csrf,
    temporalUiUrl: options.temporalUiUrl ?? null,
    namespace: reader.namespace,
    approvals: options.approvals !== false,
    rerun: rerun !== undefined,
    cli: options.cliCommand ?? DEFAULT_CLI_COMMAND,
    storeKey: (entry: ManifestEntry, pipelineId: string | null) =>
      entry.key || !pipelineId
        ? storeKeyOf(store, entry.key ?? entry.path)
        : `${folderKey(pipelineId)}/${entry.path}`,
  });
  const live = viewContext(null);

  const pipelineWatch = (id: string) =>
    hub.get(`pipeline:${id}`, () => {
      const source = new PipelineSource(reader, options.client, id);
      return new Watch<PipelineView>(
        {
          read: () => timed(source.read()),
          closed: () => source.closed(),
          follow: (changed) => source.follow(changed),
        },
        (v) => pipelineRegions(v, live),
        WATCH_INTERVALS.minGapMs,
        (e) => log(`web: reading pipeline ${id}: ${(e as Error).message}`),
      );
    });
  const runWatch = (id: string) =>
    hub.get(`run:${id}`, () => {
      const source = new RunSource(reader, id, claims);
      return new Watch<RunView>(
        {
          read: () => timed(source.read()),
          closed: () => source.closed(),
          follow: (changed) => source.follow(changed),
        },
        (v) => runRegions(v, live),
        WATCH_INTERVALS.minGapMs,
        (e) => log(`web: reading run ${id}: ${(e as Error).message}`),
      );
    });
  const listWatch = (filter: ListFilter) =>
    hub.get(`list:${JSON.stringify(filter)}`, () => {
      const source = new ListSource(reader, filter, keptRows);
      return new Watch(
        { read: () => timed(source.read()), closed: () => false },
        (list) => ({ list: listRegion(list, live) }),
        WATCH_INTERVALS.listMs,
      );
    });

  /** The page around a body, for this visitor (its CSRF token). */
  const render = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    title: string,
    body: (ctx: ViewContext) => Html,
    liveUrl?: string,
    notice?: string | null,
  ) => {
    const csrf = auth.csrfToken(req, res);
    const ctx: PageContext = { basePath, csrf, signedIn: auth.signedIn(req) };
    sendHtml(res, status, page(ctx, title, body(viewContext(csrf)), { live: liveUrl, notice }));
  };
  const problem = (req: IncomingMessage, res: ServerResponse, status: number, message: string) =>
    render(
      req,
      res,
      status,
      'Problem',
      () =>
        html`<h1>${status === 404 ? 'Not found' : 'Cannot do that'}</h1>
          <p class="error" role="alert">${message}</p>
          <p><a href="${basePath}/">Back to the list</a></p>`,
    );

  async function route(req: IncomingMessage & { originalUrl?: string }, res: ServerResponse): Promise<void> {
    securityHeaders(res);
    if (options.allowedHosts && !options.allowedHosts.includes(req.headers.host ?? ''))
      return sendText(res, 421, 'unknown host: open this page by its address\n');
    const url = new URL(req.originalUrl ?? req.url ?? '/', 'http://page.local');
    if (basePath && url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`))
      return sendText(res, 404, 'not found\n');
    const parts = url.pathname
      .slice(basePath.length)
      .split('/')
      .filter((p, i) => i > 0 || p !== '');
    let segments: string[];
    try {
      segments = parts.map(decodeURIComponent);
    } catch {
      return sendText(res, 400, 'bad path encoding\n');
    }
    const [a = '', b, c, d] = segments;
    const method = req.method ?? 'GET';

    if (method === 'GET' && a === 'assets') {
      if (b === 'web.css' && !c) return sendAsset(req, res, stylesheet());
      if (b === 'live.js' && !c) return sendAsset(req, res, await liveScript());
      return sendText(res, 404, 'not found\n');
    }
    if (a === 'login') return login(req, res, method, url);
    if (!auth.allows(req)) {
      if (method === 'GET' && a !== 'events' && a !== 'files')
        return redirect(res, `${basePath}/login?next=${encodeURIComponent(url.pathname + url.search)}`);
      res.setHeader('www-authenticate', 'Bearer');
      return sendText(res, 401, 'sign in first: Authorization: Bearer <WEB_AUTH_TOKEN>, or the login form\n');
    }
    if (method === 'POST') return post(req, res, segments);
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, POST');
      return sendText(res, 405, 'method not allowed\n');
    }
    const notice = noticeOf(url);
    if (a === '' && !b) return home(req, res, url, notice);
    if (a === 'files' && b !== undefined) {
      const key = keyOfFilePath(parts.slice(1).join('/'));
      if ('status' in key) return sendText(res, key.status, 'not a file of the output store\n');
      return sendStoredFile(store, key.key, res, url.searchParams.has('download'));
    }
    if (a === 'events') return events(req, res, url, b, c, d);
    if (a === 'pipelines' && b !== undefined && !c) {
      const v = await readView(req, res, () => pipelineWatch(b).current());
      if (v)
        render(
          req,
          res,
          200,
          `Pipeline ${b}`,
          (ctx) => pipelineBody(v, ctx),
          `${basePath}/events/pipelines/${encodeURIComponent(b)}`,
          notice,
        );
      return;
    }
    if (a === 'pipelines' && b !== undefined && c === 'manifest.json' && !d) return manifest(req, res, b);
    if (a === 'runs' && b !== undefined && !c) {
      const v = await readView(req, res, () => runWatch(b).current());
      if (v)
        render(
          req,
          res,
          200,
          `Run ${b}`,
          (ctx) => runBody(v, ctx),
          `${basePath}/events/runs/${encodeURIComponent(b)}`,
          notice,
        );
      return;
    }
    return problem(req, res, 404, 'No such page.');
  }

  /** A workflow's view, or the page that says why there is none (404 for an unknown id or another kind). */
  async function readView<V>(
    req: IncomingMessage,
    res: ServerResponse,
    read: () => Promise<V>,
  ): Promise<V | null> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError || (error as { code?: number }).code === 5)
        problem(req, res, 404, 'No workflow with this id.');
      else if (error instanceof NotThisKind)
        problem(req, res, 404, `${error.message}, not what this page shows.`);
      else throw error;
      return null;
    }
  }

  async function home(req: IncomingMessage, res: ServerResponse, url: URL, notice: string | null) {
    const filter = filterOf(url);
    const list = await listWatch(filter).current();
    const query = new URLSearchParams(filter as Record<string, string>).toString();
    render(
      req,
      res,
      200,
      'Generations',
      (ctx) => homeBody(list, filter, ctx),
      `${basePath}/events/home${query ? `?${query}` : ''}`,
      notice,
    );
  }

  async function events(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    kind?: string,
    id?: string,
    extra?: string,
  ) {
    if (kind === 'home' && !id)
      return openEventStream(req, res, listWatch(filterOf(url)) as Watch<unknown>, streams);
    if ((kind === 'pipelines' || kind === 'runs') && id !== undefined && !extra) {
      const watch = (kind === 'pipelines' ? pipelineWatch(id) : runWatch(id)) as Watch<unknown>;
      try {
        await watch.current();
      } catch {
        return sendText(res, 404, 'no such workflow\n');
      }
      return openEventStream(req, res, watch, streams);
    }
    return sendText(res, 404, 'not found\n');
  }

  /** The stored manifest once written; before that, the manifest so far (the files kept until now). */
  async function manifest(req: IncomingMessage, res: ServerResponse, id: string) {
    const v = await readView(req, res, () => pipelineWatch(id).current());
    if (!v) return;
    const key = `${folderKey(id)}/manifest.json`;
    if (v.report?.manifest.path && (await store.size(key).catch(() => null)) !== null)
      return sendStoredFile(store, key, res, true);
    const body = Buffer.from(
      `${JSON.stringify({ pipelineId: id, name: v.report?.name ?? null, status: v.workflowStatus === 'RUNNING' ? 'running' : v.report?.status, files: v.report?.manifest.files ?? [], cost: v.report?.cost ?? null }, null, 2)}\n`,
    );
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': body.length,
      'content-disposition': 'attachment; filename="manifest.json"',
      'cache-control': 'no-store',
    });
    res.end(body);
  }

  async function post(req: IncomingMessage, res: ServerResponse, segments: string[]) {
    const form = await readForm(req);
    if (!form) {
      res.setHeader('connection', 'close');
      return sendText(res, 413, 'a form (application/x-www-form-urlencoded) of at most 8 KiB\n');
    }
    if (!auth.csrfValid(req, form.get('csrf')))
      return problem(
        req,
        res,
        403,
        'This form is stale or came from another site (CSRF check failed): reload the page and try again.',
      );
    const [a, id, action, extra] = segments;
    try {
      if (a === 'logout' && !id) {
        auth.endSession(req, res);
        return redirect(res, `${basePath}/login`);
      }
      if (id === undefined || extra !== undefined) return problem(req, res, 404, 'No such action.');
      if (a === 'runs' && action === 'cancel') {
        const notice = await cancelWorkflow(options.client, id, 'runPrediction');
        return redirect(res, `${runHref({ basePath }, id)}?notice=${notice}`);
      }
      if (a === 'pipelines' && action === 'cancel') {
        const notice = await cancelWorkflow(options.client, id, 'runPipeline');
        return redirect(res, `${pipelineHref({ basePath }, id)}?notice=${notice}`);
      }
      if (a === 'pipelines' && (action === 'approve' || action === 'rerun')) {
        const v = await readView(req, res, () => pipelineWatch(id).current());
        if (!v) return;
        if (action === 'approve') {
          if (options.approvals === false) throw new WebActionError(404, 'approvals are off on this page');
          const notice = await approveStep(options.client, v, form, 'web');
          return redirect(res, `${pipelineHref({ basePath }, id)}?notice=${notice}`);
        }
        if (!rerun) throw new WebActionError(404, 'rerun is not available on this page');
        const newId = await rerunFrom(options.client, rerun, v, form);
        return redirect(res, `${pipelineHref({ basePath }, newId)}?notice=rerun-started`);
      }
      return problem(req, res, 404, 'No such action.');
    } catch (error) {
      if (error instanceof WebActionError) return problem(req, res, error.status, error.message);
      throw error;
    }
  }

  async function login(req: IncomingMessage, res: ServerResponse, method: string, url: URL) {
    const next = safeNext(url.searchParams.get('next'), basePath);
    if (!auth.required) return redirect(res, next);
    if (method === 'GET') return render(req, res, 200, 'Sign in', (ctx) => loginBody(ctx, next, null));
    if (method !== 'POST') return sendText(res, 405, 'method not allowed\n');
    const form = await readForm(req);
    if (!form || !auth.csrfValid(req, form.get('csrf')))
      return render(req, res, 403, 'Sign in', (ctx) =>
        loginBody(ctx, next, 'The form was stale: try again.'),
      );
    if (!auth.checkPassword(form.get('token') ?? ''))
      return render(req, res, 401, 'Sign in', (ctx) => loginBody(ctx, next, 'That is not the token.'));
    auth.startSession(req, res);
    return redirect(res, safeNext(form.get('next'), basePath));
  }

  return {
    listener(req, res) {
      route(req, res).catch((error: unknown) => {
        log(`web: ${req.method} ${req.url}: ${(error as Error).stack ?? String(error)}`);
        if (!res.headersSent) sendText(res, 500, 'internal error (logged)\n');
        else res.destroy();
      });
    },
    stats: () => ({
      ...reader.stats,
      reads: reads.count,
      readMsAverage: reads.count ? Math.round(reads.totalMs / reads.count) : 0,
      readMsMax: reads.maxMs,
      watched: hub.active(),
      streams: streams.size,
    }),
    async close() {
      hub.close();
      for (const s of streams) s.end();
      streams.clear();
    },
  };
}

function sendAsset(req: IncomingMessage, res: ServerResponse, a: Asset): void {
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, { etag: a.etag });
    return void res.end();
  }
  res.writeHead(200, {
    'content-type': a.type,
    'content-length': a.body.length,
    etag: a.etag,
    'cache-control': 'no-cache',
  });
  res.end(a.body);
}

function noticeOf(url: URL): string | null {
  const code = url.searchParams.get('notice');
  return code && Object.hasOwn(NOTICES, code) ? NOTICES[code as Notice] : null;
}

function filterOf(url: URL): ListFilter {
  const filter: ListFilter = {};
  for (const key of ['status', 'model', 'pipeline', 'q'] as const) {
    const value = url.searchParams.get(key)?.trim();
    if (value) filter[key] = value;
  }
  return filter;
}

/** Where to go after signing in: a path of this page only (never another site). */
function safeNext(next: string | null, basePath: string): string {
  return next && next.startsWith(`${basePath}/`) && !next.startsWith('//') && !/[\\\r\n]/.test(next)
    ? next
    : `${basePath}/`;
}
