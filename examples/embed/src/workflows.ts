// Your workflows file. Export our workflows from it so your worker runs them too, then call them as children.
import { executeChild, workflowInfo } from '@temporalio/workflow';
import { runPipeline, runPrediction } from 'replicate-temporal/workflows';

export * from 'replicate-temporal/workflows';

/** Your own workflow: an image, its caption, and a two-step pipeline, each a durable child run. */
export async function illustrate(prompt: string) {
  const id = workflowInfo().workflowId;
  const image = await executeChild(runPrediction, {
    workflowId: `${id}--image`,
    workflowExecutionTimeout: '5m',
    args: [{ model: 'google/imagen-4-ultra', input: { prompt } }],
  });
  const caption = await executeChild(runPrediction, {
    workflowId: `${id}--caption`,
    workflowExecutionTimeout: '5m',
    args: [{ model: 'salesforce/blip', input: { image: image.output } }],
  });
  const poster = await executeChild(runPipeline, {
    workflowId: `${id}--poster`,
    workflowExecutionTimeout: '10m',
    args: [
      {
        spec: {
          name: 'poster',
          inputs: { prompt },
          steps: {
            generate: { model: 'google/imagen-4-ultra', count: 2, input: { prompt: '{{ inputs.prompt }}' } },
            upscale: {
              model: 'nightmareai/real-esrgan',
              foreach: '{{ steps.generate.outputs }}',
              input: { image: '{{ item }}', scale: 2 },
            },
          },
        },
      },
    ],
  });
  return { image: image.output, caption: caption.output, poster: poster.manifest };
}
