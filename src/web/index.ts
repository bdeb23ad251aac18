/**
 * `replicate-temporal/web`: a page to watch and browse generations (docs/web.md). Run it with
 * `replicate-temporal web`, or mount the handler in your own server:
 *
 *   const web = createWebHandler({ client, outputs: process.env.OUTPUT_DIR ?? 'outputs', basePath: '/generations' });
 *   app.use('/generations', web.listener); // Express; or http.createServer(web.listener)
 *
 * Your client must have your workers' data converter (ENCRYPTION_KEY: createDataConverter), and your server must
 * authenticate requests (or pass `authToken`).
 */
export { createWebHandler, type WebHandler, type WebHandlerOptions } from './handler';
export { startWebServer, type RunningWebServer, type WebServerOptions } from './server';
export { APPROVE_STEP_UPDATE, type ApproveStepArgs, type RerunPipeline } from './actions';
export { WATCH_INTERVALS } from './watch';
export type { WebStats } from './read/temporal';
export { readWebConfig, DEFAULT_WEB_PORT, type WebConfig } from '../config/web';
