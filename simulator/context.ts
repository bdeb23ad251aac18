/** What the request handlers (routes.ts, create.ts, list.ts) share with the ReplicateSimulator that owns them. */
import type { FaultInjector } from './faults';
import type { FileStore } from './files';
import type { ModelScript } from './models';
import type { LeanMode } from './timeline';
import type { RunStore } from './store';

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  route: string;
  /** HTTP status answered; 0 when the connection was destroyed without an answer */
  status: number;
  /** id of the prediction or training the request created or addressed */
  predictionId?: string;
  /** creates only: when the run was stored (absent when nothing was: an error answer, a reset before the commit) */
  committedAt?: number;
  headers: Record<string, string>;
  body?: unknown;
}

export interface SimContext {
  readonly token: string;
  readonly clock: () => number;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** `${origin}/v1` */
  readonly baseUrl: string;
  /** model ref (`owner/name`) -> script */
  readonly models: Map<string, ModelScript>;
  /** deployment (`owner/name`) -> model ref */
  readonly deployments: Map<string, string>;
  readonly store: RunStore;
  /** uploads (POST /v1/files) */
  readonly files: FileStore;
  /** the largest upload accepted (default 100 MiB) */
  readonly maxFileBytes: number;
  readonly faults: FaultInjector;
  /** page size of the list routes */
  readonly pageSize: number;
  /** body limit of the create routes */
  readonly maxBodyBytes: number;
  readonly webhookSecret: string;
  /** one line per request on stderr */
  readonly verbose: boolean;
  /** echoed fields left out of list (and get) answers: timeline.ts, leanView */
  readonly lean: LeanMode | undefined;
  readonly requests: RecordedRequest[];
  /** POST /_sim/reset */
  reset(): void;
}
