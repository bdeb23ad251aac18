/**
 * Where the simulator deliberately answers differently from Replicate's OpenAPI description
 * (`../shared/reference/replicate-openapi.yaml`), each with the evidence for it. The contract test
 * (test/simulator/contract.test.ts) validates every simulator response against the description and allows exactly
 * these failures: an unlisted failure fails it, and so does a listed one that no longer occurs.
 *
 * A deviation names the operations (operationId; `webhook (prediction)` / `webhook (training)` for webhook
 * deliveries, validated against the GET schemas) and the schema failure: the JSON pointer in the answer (array
 * indices as `*`), the JSON-Schema keyword and, for `required`, the missing property.
 */

export interface Deviation {
  id: string;
  operations: readonly string[];
  /** JSON pointer of the failing value ('' = the whole body), array indices written `*` */
  path: string;
  keyword: string;
  /** the missing property of a `required` failure */
  property?: string;
  /** what the simulator does, and why */
  why: string;
  /** where that behaviour comes from */
  evidence: string;
}

const CREATES = ['predictions.create', 'models.predictions.create', 'deployments.predictions.create'];
const PREDICTION_READS = [
  'predictions.get',
  'predictions.cancel',
  'predictions.list',
  'webhook (prediction)',
];
const TRAININGS = [
  'trainings.create',
  'trainings.get',
  'trainings.cancel',
  'trainings.list',
  'webhook (training)',
];
const FILES = ['files.create', 'files.get', 'files.list'];
const ERRORS = [400, 401, 402, 403, 404, 405, 409, 413, 422, 429, 500].map((s) => `error ${s}`);
const RECORDED = 'recorded traffic: replicate/replicate-python tests/cassettes';
const NPM_TYPES = 'the official client replicate@1.4.0, index.d.ts';

export const DEVIATIONS: readonly Deviation[] = [
  ...(['output', 'data_removed'] as const).map((property) => ({
    id: `create-sparse-${property}`,
    operations: CREATES,
    path: '',
    keyword: 'required',
    property,
    why: `an async create's 201 (and a Prefer: wait create's 202) has no \`${property}\` key yet; code must treat it as missing`,
    evidence: `docs/replicate-api.md §3 (the async create's 201); ${RECORDED}/predictions-create.yaml`,
  })),
  ...(['output', 'data_removed'] as const).map((property) => ({
    id: `running-sparse-${property}`,
    operations: PREDICTION_READS,
    path: '',
    keyword: 'required',
    property,
    why: `a prediction still starting or processing has no \`${property}\` key until it ends`,
    evidence: `docs/replicate-api.md §3 (keys present per moment); ${RECORDED}/predictions-get.yaml`,
  })),
  {
    id: 'prediction-predict-time',
    operations: [...CREATES, ...PREDICTION_READS],
    path: '/metrics',
    keyword: 'additionalProperties',
    property: 'predict_time',
    why: '`metrics.predict_time` (the billed running time) is sent; the schema lists only total_time',
    evidence: `the description's own predictions.get text and examples ("a metrics object with a predict_time property"); ${NPM_TYPES} (metrics.predict_time)`,
  },
  ...(['webhook', 'webhook_events_filter'] as const).map((property) => ({
    id: `echoed-${property}`,
    operations: [...CREATES, ...PREDICTION_READS, ...TRAININGS],
    path: '',
    keyword: 'additionalProperties',
    property,
    why: `the create's \`${property}\` is echoed (not in the schema). Nothing we ship relies on it: adoption and the reconciler work without it (simulator option lean; test/adoption.test.ts, reconcile, late-create, chaos --lean)`,
    evidence: `${NPM_TYPES} (Prediction and Training: webhook?, webhook_events_filter?); replicate/replicate-javascript#321 (a prediction answer carrying the webhook URL)`,
  })),
  {
    id: 'training-urls-web',
    operations: TRAININGS,
    path: '/urls',
    keyword: 'additionalProperties',
    property: 'web',
    why: 'a training carries `urls.web` like a prediction (the training schema lists only get and cancel)',
    evidence: `the description's own trainings.list example (urls.web); ${NPM_TYPES} (Training.urls.web?)`,
  },
  {
    id: 'training-output-null',
    operations: TRAININGS.filter((o) => o !== 'trainings.create'),
    path: '/output',
    keyword: 'type',
    why: 'a training that ended without success has `output: null`; the schema types it as an object only',
    evidence: `${RECORDED}/trainings-cancel.yaml (a canceled training: "output":null)`,
  },
  {
    id: 'training-data-removed',
    operations: TRAININGS.filter((o) => o !== 'trainings.create'),
    path: '',
    keyword: 'additionalProperties',
    property: 'data_removed',
    why: "a finished training carries `data_removed`: the simulator applies the API's one-hour retention to trainings as to predictions, so code meets a removed output in tests. Undocumented for trainings: our code treats the key as optional (missing = not removed)",
    evidence:
      'docs/replicate-api.md §8 (retention of API-created runs); not in the training schema nor the npm Training type',
  },
  {
    id: 'training-destination',
    operations: TRAININGS,
    path: '',
    keyword: 'additionalProperties',
    property: 'destination',
    why: 'a training echoes its `destination`, for test inspection only (isTraining(view) tells the kinds apart); nothing under src/ reads it from an answer',
    evidence:
      'none from Replicate: a simulator convenience (the create body has it: schemas_training_request)',
  },
  ...(
    [
      ['name', '', 'the uploaded file name'],
      ['etag', '', "the content's MD5, as an ETag"],
      ['md5', '/checksums', 'an MD5 checksum next to sha256'],
    ] as const
  ).map(([property, path, what]) => ({
    id: `file-${property}`,
    operations: FILES,
    path,
    keyword: 'additionalProperties',
    property,
    why: `a file resource carries \`${property}\` (${what}), like the real API; the schema does not list it. Nothing we ship reads it`,
    evidence: `${RECORDED}/file-operations.yaml (POST, GET and list of /v1/files); replicate/replicate-python replicate/file.py (File.name, File.etag)`,
  })),
  ...(['title', 'status', 'invalid_fields'] as const).map((property) => ({
    id: `problem-${property}`,
    operations: ERRORS,
    path: '',
    keyword: 'additionalProperties',
    property,
    why: `error bodies are problem+json with \`${property}\` besides \`detail\` (the description's only problem schema lists detail)`,
    evidence: `docs/replicate-api.md §5 (the bodies we saw: title, detail, status; invalid_fields on 422); ${RECORDED}/run__invalid-token.yaml`,
  })),
];

/**
 * Deliberate differences in behaviour rather than shape (no schema catches them); the contract test asserts each.
 */
export const BEHAVIOUR_DEVIATIONS = [
  {
    id: 'files-without-authorization',
    why: 'output files under /files/ are served with or without an Authorization header, like replicate.delivery; the description says files need it. Our downloads send none (the token never leaves for a file host)',
    evidence:
      'replicate@1.4.0 lib/stream.js createFileOutput fetches output URLs with no headers; docs/replicate-api.md §8',
  },
  {
    id: 'loopback-http-webhook',
    why: 'a webhook URL must be HTTPS (422 otherwise), except on a loopback host (localhost, 127.0.0.0/8, ::1): tests need no certificates. Replicate cannot reach a loopback host anyway',
    evidence: 'the description\'s webhook field: "An HTTPS URL"',
  },
  {
    id: 'unfinished-wait-202',
    why: 'Prefer: wait answers 202 when the window ends before the prediction does (as the description says); recorded traffic shows 201 there, so our code accepts both',
    evidence: 'the description (201 final output, 202 not yet); docs/replicate-api.md §2',
  },
  {
    id: 'training-cancel-after-ignored',
    why: 'trainings ignore Cancel-After and carry no `deadline` (neither is documented for trainings): our own deadline cancels a training, and the reconciler finds leftovers without a deadline',
    evidence:
      'the description: Cancel-After is a parameter of the three prediction routes only; schemas_training_response has no deadline',
  },
] as const;
