/**
 * A tiny, valid ustar archive for a training's `weights.tar` (served at /files/{id}/weights.tar): one small
 * file whose content depends on the seed, so different trainings get different bytes.
 */
import { createHash } from 'node:crypto';

const BLOCK = 512;

export function makeTar(seed: string): Buffer {
  const name = 'weights.safetensors';
  const content = Buffer.from(
    `simulated weights ${createHash('sha256').update(seed).digest('hex')}\n`,
    'utf8',
  );
  const header = Buffer.alloc(BLOCK);
  const put = (text: string, offset: number, length: number): void => {
    header.write(text.slice(0, length), offset, length, 'ascii');
  };
  const octal = (n: number, length: number): string => n.toString(8).padStart(length - 1, '0');
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8); // mode
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(content.length, 12), 124, 12); // size
  put(octal(0, 12), 136, 12); // mtime
  header.fill(' ', 148, 156); // checksum placeholder: eight spaces
  put('0', 156, 1); // typeflag: regular file
  put('ustar', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(`${octal(sum, 7)}\0 `, 148, 8);
  const padding = Buffer.alloc((BLOCK - (content.length % BLOCK)) % BLOCK);
  return Buffer.concat([header, content, padding, Buffer.alloc(2 * BLOCK)]);
}
