/**
 * What the image models make of their input: the picture behind each output file (ModelScript.picture) and the
 * caption of a captioning model (output '$caption'). A picture of the prompt is 512 px on its long side (or the
 * input's `width`/`height`, or its `aspect_ratio`); an upscale redraws the simulator's own input picture `scale`
 * times larger (default 2; its long side at most 2048 px), or draws 1024×1024 for a picture it did not make; any other
 * model's output file is a 256×256 picture of nothing in particular.
 */
import type { PictureSpec } from './picture';
import { MAX_SIDE } from './picture';
import type { PredictionRecord } from './timeline';

const GENERIC_CAPTION = 'a picture of something the simulator did not draw';

/** The picture output file `name` of `rec` shows. */
export function outputPicture(rec: PredictionRecord, name: string): PictureSpec {
  const input = rec.input;
  if (rec.script.picture === 'prompt') {
    const seed = input.seed === undefined || input.seed === null ? rec.id : `seed ${String(input.seed)}`;
    return { prompt: promptOf(input.prompt), seed: `${seed}/${name}`, ...sizeOf(input) };
  }
  if (rec.script.picture === 'upscale') {
    const source = rec.reads?.pictures.image;
    const scale = typeof input.scale === 'number' && input.scale >= 1 && input.scale <= 4 ? input.scale : 2;
    if (source) {
      const factor = Math.min(scale, MAX_SIDE / Math.max(source.width, source.height, 1)); // keeps the shape
      const side = (n: number): number => Math.max(1, Math.round(n * factor));
      return {
        prompt: source.prompt,
        seed: source.seed,
        width: side(source.width),
        height: side(source.height),
      };
    }
    return { prompt: '', seed: String(input.image), width: 1024, height: 1024 };
  }
  return { prompt: '', seed: `${rec.id}/${name}`, width: 256, height: 256 };
}

/** The output of a run once it has read its inputs: a '$caption' model describes `input.image`. */
export function outputAfterReading(rec: PredictionRecord): unknown {
  if (rec.script.output !== '$caption') return rec.output;
  const prompt = rec.reads?.pictures.image?.prompt ?? '';
  return prompt === '' ? GENERIC_CAPTION : `a picture of ${prompt}`;
}

/** A prompt as a picture can show it: one line of at most 300 characters. Models' inputs are hostile. */
function promptOf(value: unknown): string {
  const text = typeof value === 'string' ? value : '';
  return text
    .replace(/[\p{Cc}\s]+/gu, ' ')
    .trim()
    .slice(0, 300);
}

/** 512 px on the long side, shaped by `aspect_ratio` ("3:4"), unless `width` and `height` say otherwise. */
function sizeOf(input: Record<string, unknown>): { width: number; height: number } {
  const px = (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isInteger(v) && v >= 64 && v <= MAX_SIDE ? v : undefined;
  const width = px(input.width);
  const height = px(input.height);
  if (width !== undefined && height !== undefined) return { width, height };
  const ratio =
    typeof input.aspect_ratio === 'string' ? /^(\d{1,2}):(\d{1,2})$/.exec(input.aspect_ratio) : null;
  const w = ratio ? Number(ratio[1]) : 1;
  const h = ratio ? Number(ratio[2]) : 1;
  if (w <= 0 || h <= 0) return { width: 512, height: 512 };
  return w >= h
    ? { width: 512, height: Math.max(64, Math.round((512 * h) / w)) }
    : { width: Math.max(64, Math.round((512 * w) / h)), height: 512 };
}
