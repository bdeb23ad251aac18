/**
 * The pictures image models "generate": a landscape drawn procedurally from the prompt (its words and hash pick
 * the sky, the sun, the hills and a subject) and a seed (where things are), encoded as a real PNG a browser
 * draws. The prompt and seed travel in the PNG's text chunks, so a model that reads the picture back (the
 * upscaler, the captioner) knows what it shows, whether it got it as an output URL, an upload or a data: URL.
 * Deterministic: the same spec always gives the same bytes. Recently drawn pictures are cached.
 */
import { createHash } from 'node:crypto';
import { encodePng, readPngInfo } from './png';

export interface PictureSpec {
  /** what the picture shows ('' for a picture of nothing in particular) */
  prompt: string;
  /** where things are: two pictures of one prompt differ unless their seeds are equal */
  seed: string;
  width: number;
  height: number;
}

/** The largest side drawn (an upscale of an upscale stops growing here). */
export const MAX_SIDE = 2048;
/** The text-chunk keyword that marks the simulator's own pictures. */
const SOFTWARE = 'replicate-simulator';

type Rgb = [number, number, number];

/** Colours named in a prompt, and the skies of a few moments of the day. */
const COLOURS: Record<string, Rgb> = {
  red: [200, 40, 40],
  orange: [235, 130, 30],
  yellow: [240, 210, 60],
  green: [50, 150, 70],
  blue: [40, 90, 200],
  purple: [130, 60, 170],
  pink: [230, 120, 170],
  white: [235, 235, 235],
  black: [25, 25, 30],
  gold: [212, 175, 55],
};
const SKIES: [RegExp, Rgb, Rgb][] = [
  [/\b(night|midnight|stars?|moon)\b/, [8, 12, 40], [40, 50, 100]],
  [/\b(dusk|sunset|evening)\b/, [70, 40, 110], [250, 140, 70]],
  [/\b(dawn|sunrise|morning)\b/, [120, 150, 210], [250, 190, 160]],
  [/\b(storm|rain|fog|mist|grey|gray)\b/, [90, 95, 105], [160, 165, 170]],
];

function hsl(h: number, s: number, l: number): Rgb {
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

const mix = (a: Rgb, b: Rgb, t: number): Rgb => [
  a[0] + (b[0] - a[0]) * t,
  a[1] + (b[1] - a[1]) * t,
  a[2] + (b[2] - a[2]) * t,
];

/** The look a prompt asks for: sky colours, hill hue, the subject and its colour. */
function lookOf(prompt: string) {
  const words = prompt.toLowerCase();
  const h = createHash('sha256').update(words).digest();
  const hue = (h.readUInt16BE(0) / 65536) * 360;
  const sky = SKIES.find(([re]) => re.test(words));
  const named = Object.keys(COLOURS).find((c) => new RegExp(`\\b${c}\\b`).test(words));
  const subject = /\b(lighthouse|tower|castle|building|skyscraper)\b/.test(words)
    ? 'tower'
    : /\b(tree|forest|woods?)\b/.test(words)
      ? 'tree'
      : (['tower', 'tree', 'orb'] as const)[h[2]! % 3]!;
  return {
    skyTop: sky?.[1] ?? hsl(hue, 0.55, 0.35),
    skyLow: sky?.[2] ?? hsl((hue + 40) % 360, 0.6, 0.75),
    hillHue: /\b(forest|grass|meadow|green|field)\b/.test(words) ? 120 : (hue + 150) % 360,
    water: /\b(sea|ocean|lake|lighthouse|beach|harbou?r|river)\b/.test(words),
    subject,
    subjectColour: named ? COLOURS[named]! : hsl((hue + 200) % 360, 0.7, 0.55),
    night: sky?.[0].source.includes('night') ?? false,
  };
}

/** A small deterministic PRNG (xorshift32) seeded from a string. */
function prng(seed: string): () => number {
  let x = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** The picture's pixels (RGB, rows top to bottom). */
function draw(spec: PictureSpec): Buffer {
  const { width: w, height: h } = spec;
  const look = lookOf(spec.prompt);
  const rand = prng(`${spec.prompt}\n${spec.seed}`);
  const horizon = Math.round(h * (0.55 + rand() * 0.1));
  const sun = { x: w * (0.15 + rand() * 0.7), y: horizon * (0.25 + rand() * 0.45), r: Math.min(w, h) * 0.07 };
  const sunColour: Rgb = look.night ? [235, 235, 210] : [255, 225, 140];
  // three hill layers, back to front: a ridge line per column from two sines with seeded phases
  const layers = [0.0, 0.12, 0.24].map((depth, i) => {
    const a = rand() * Math.PI * 2;
    const b = rand() * Math.PI * 2;
    const top = new Float32Array(w);
    for (let x = 0; x < w; x++) {
      const u = x / w;
      top[x] =
        horizon +
        h * depth +
        h * 0.06 * Math.sin(u * (3 + i * 2) + a) +
        h * 0.03 * Math.sin(u * (9 + i * 3) + b);
    }
    const colour = hsl(look.hillHue, 0.35, look.night ? 0.12 + i * 0.04 : 0.45 - i * 0.1);
    return { top, shades: shades(colour) };
  });
  const water = look.water ? Math.round(h * 0.82) : h;
  const subjectX = Math.round(w * (0.2 + rand() * 0.6));
  const subjectBase = Math.round(layers[1]!.top[subjectX]!);
  const size = Math.min(w, h);

  const rgb = Buffer.alloc(w * h * 3);
  const sunR2 = sun.r * sun.r;
  const [back, middle, front] = layers as [(typeof layers)[0], (typeof layers)[0], (typeof layers)[0]];
  const box = { x0: subjectX - size * 0.1, x1: subjectX + size * 0.1, y0: subjectBase - size * 0.4 };
  let at = 0;
  for (let y = 0; y < h; y++) {
    const sky = mix(look.skyTop, look.skyLow, Math.min(1, y / horizon));
    const nearSun = Math.abs(y - sun.y) < 2 * sun.r;
    const subjectRow = y >= box.y0 && y <= subjectBase;
    const waves =
      y >= water ? mix([30, 70, 120], look.skyLow, 0.2 + 0.08 * Math.sin((y - water) * 0.4)) : undefined;
    for (let x = 0; x < w; x++, at += 3) {
      let c: Rgb = sky;
      if (waves) c = waves;
      else {
        if (nearSun) {
          const d2 = (x - sun.x) ** 2 + (y - sun.y) ** 2;
          if (d2 < sunR2) c = sunColour;
          else if (d2 < 4 * sunR2) c = mix(sunColour, sky, Math.sqrt(d2) / sun.r - 1);
        } else if (look.night && ((Math.imul(x, 73856093) ^ Math.imul(y, 19349663)) & 1023) === 0) {
          c = [250, 250, 255];
        }
        if (y >= back.top[x]!) c = back.shades[Math.min(160, (y - back.top[x]!) | 0)]!;
        if (subjectRow && x >= box.x0 && x <= box.x1) {
          c = subjectPixel(look.subject, x - subjectX, subjectBase - y, size, look.subjectColour) ?? c;
        }
        if (y >= middle.top[x]!) c = middle.shades[Math.min(160, (y - middle.top[x]!) | 0)]!;
        if (y >= front.top[x]!) c = front.shades[Math.min(160, (y - front.top[x]!) | 0)]!;
      }
      rgb[at] = c[0];
      rgb[at + 1] = c[1];
      rgb[at + 2] = c[2];
    }
  }
  return rgb;
}

/** A hill's colours by depth below its ridge (in pixels): lit at the top, darker further down to 60%. */
function shades(c: Rgb): Rgb[] {
  return Array.from({ length: 161 }, (_, depth): Rgb => {
    const k = 1 - depth / 400;
    return [Math.round(c[0] * k), Math.round(c[1] * k), Math.round(c[2] * k)];
  });
}

/** The subject's colour at (dx, up) from its base, or undefined outside it. */
function subjectPixel(
  kind: 'tower' | 'tree' | 'orb',
  dx: number,
  up: number,
  size: number,
  colour: Rgb,
): Rgb | undefined {
  if (kind === 'tower') {
    const height = size * 0.32;
    const half = size * (0.03 - (0.01 * up) / height);
    if (up < 0 || up > height + size * 0.04 || Math.abs(dx) > half + 2) return undefined;
    if (up > height) return Math.abs(dx) < size * 0.012 ? [255, 240, 160] : undefined; // the lamp
    return Math.floor(up / (size * 0.05)) % 2 === 0 ? colour : [240, 240, 240]; // stripes
  }
  if (kind === 'tree') {
    if (up >= 0 && up < size * 0.08 && Math.abs(dx) < size * 0.012) return [90, 60, 30];
    const cy = up - size * 0.16;
    return dx * dx + cy * cy < (size * 0.09) ** 2 ? colour : undefined;
  }
  const cy = up - size * 0.12;
  return dx * dx + cy * cy < (size * 0.08) ** 2
    ? mix(colour, [255, 255, 255], Math.max(0, -dx - cy) / (size * 0.2))
    : undefined;
}

const cache = new Map<string, Buffer>();
const CACHE_ENTRIES = 32;

/** The PNG for a spec: drawn once, then served from a small cache (most recent 32). */
export function pictureBytes(spec: PictureSpec): Buffer {
  const key = JSON.stringify(spec);
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const width = Math.max(1, Math.min(MAX_SIDE, Math.round(spec.width)));
  const height = Math.max(1, Math.min(MAX_SIDE, Math.round(spec.height)));
  const bytes = encodePng(width, height, draw({ ...spec, width, height }), {
    Software: SOFTWARE,
    prompt: spec.prompt,
    seed: spec.seed,
  });
  cache.set(key, bytes);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  return bytes;
}

/** What one of the simulator's own PNGs shows; undefined for any other bytes. */
export function pictureOf(bytes: Buffer): PictureSpec | undefined {
  const info = readPngInfo(bytes);
  if (!info || info.text.Software !== SOFTWARE) return undefined;
  return {
    prompt: info.text.prompt ?? '',
    seed: info.text.seed ?? '',
    width: info.width,
    height: info.height,
  };
}
