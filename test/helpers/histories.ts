/** The recorded histories in test/histories/<release>/<path>.json (scripts/record-histories.ts writes them). */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = path.join(__dirname, '..', 'histories');

export interface RecordedHistory {
  /** `<release>/<path>.json` */
  file: string;
  release: string;
  /** the recorded path (file name without .json) */
  name: string;
  /** the workflow id it was recorded under (child ids derive from it) */
  workflowId: string;
}

export function recordedHistories(): RecordedHistory[] {
  return readdirSync(HISTORIES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(path.join(HISTORIES_DIR, d.name))
        .filter((f) => f.endsWith('.json'))
        .map((f) => {
          const name = f.replace(/\.json$/, '');
          return { file: `${d.name}/${f}`, release: d.name, name, workflowId: `history-${name}` };
        }),
    );
}

export function loadHistory(h: RecordedHistory): temporal.api.history.v1.IHistory {
  return historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, h.file), 'utf8')));
}
