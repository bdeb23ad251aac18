/** startPrediction's request handling, against a stand-in Temporal client that records the start. */
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { startPrediction } from '../../src/client';
import type { PredictionRequest } from '../../src/shared/types';

function recordingClient() {
  const starts: { args: unknown[]; staticDetails?: string; staticSummary?: string }[] = [];
  const client = {
    workflow: {
      async start(_workflow: unknown, options: (typeof starts)[number]) {
        starts.push(options);
        return { workflowId: 'w' };
      },
    },
  } as unknown as Client;
  return { client, starts };
}

/** The stand-in cannot register search attributes: the helper's one warning about it is expected, not printed. */
const onWarning = (): void => undefined;

describe('startPrediction', () => {
  it('an input value `undefined` means "not set": the key is dropped, as JSON would, and the run starts', async () => {
    const { client, starts } = recordingClient();
    const request: PredictionRequest = { model: 'acme/m', input: { prompt: 'a cat', seed: undefined } };
    await startPrediction(client, request, { taskQueue: 'q', onWarning });
    expect(starts).toHaveLength(1);
    const sent = starts[0]!.args[0] as PredictionRequest;
    expect(sent.input).toEqual({ prompt: 'a cat' });
    expect(Object.keys(sent.input)).toEqual(['prompt']);
    expect(starts[0]!.staticDetails).toContain('- **prompt:** a cat');
    expect(starts[0]!.staticDetails).not.toContain('seed');
    expect(request.input).toHaveProperty('seed'); // the caller's object is left as it was
  });

  it('a bad request is still refused before anything starts, naming the field', async () => {
    const { client, starts } = recordingClient();
    await expect(
      startPrediction(client, { model: 'acme/m', input: 'a cat' as never }, { taskQueue: 'q', onWarning }),
    ).rejects.toThrow(/^input: must be a JSON object/);
    expect(starts).toEqual([]);
  });
});
