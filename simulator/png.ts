/**
 * PNG encoding and the few facts the simulator reads back from a PNG: its size and its text chunks. Pixels are
 * deflated with Node's zlib (level 4: a third of level 6's time for a file ~15% larger); every row uses the `Up`
 * filter, which keeps smooth pictures small.
 */
import { deflateSync } from 'node:zlib';

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// zlib.crc32 needs Node >= 20.15 and the project supports 20.3: the table-driven CRC is ten lines.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([len, typeAndData, crc]);
}

/** An uncompressed international text chunk (UTF-8 text under a Latin-1 keyword). */
function itxt(keyword: string, text: string): Buffer {
  return chunk(
    'iTXt',
    Buffer.concat([Buffer.from(`${keyword}\0\0\0\0\0`, 'latin1'), Buffer.from(text, 'utf8')]),
  );
}

/** A truecolour PNG of `rgb` (width * height * 3 bytes, rows top to bottom) with `text` as iTXt chunks. */
export function encodePng(
  width: number,
  height: number,
  rgb: Buffer,
  text: Record<string, string> = {},
): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour RGB
  // bytes 10..12: compression, filter, interlace = 0
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const out = y * (stride + 1);
    const row = y * stride;
    raw[out] = 2; // filter: Up (the byte minus the one above it)
    for (let i = 0; i < stride; i++)
      raw[out + 1 + i] = (rgb[row + i]! - (y > 0 ? rgb[row - stride + i]! : 0)) & 0xff;
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    ...Object.entries(text).map(([k, v]) => itxt(k, v)),
    chunk('IDAT', deflateSync(raw, { level: 4 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export interface PngInfo {
  width: number;
  height: number;
  /** uncompressed iTXt chunks before the image data, keyword -> text */
  text: Record<string, string>;
}

/**
 * Size and uncompressed text chunks of a PNG, or undefined when `bytes` is not one. Bytes from a model's input are
 * hostile: every length is checked against the buffer, and only the chunks before the first IDAT are read.
 */
export function readPngInfo(bytes: Buffer): PngInfo | undefined {
  if (bytes.length < 33 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  if (bytes.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  const info: PngInfo = { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), text: {} };
  let at = 33;
  for (let n = 0; n < 64 && at + 8 <= bytes.length; n++) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const end = at + 8 + length;
    if (type === 'IDAT' || type === 'IEND' || end + 4 > bytes.length) break;
    if (type === 'iTXt') {
      const data = bytes.subarray(at + 8, end);
      const nul = data.indexOf(0);
      // keyword \0 compression-flag compression-method language \0 translated-keyword \0 text
      if (nul > 0 && data[nul + 1] === 0) {
        const language = data.indexOf(0, nul + 3);
        const translated = language === -1 ? -1 : data.indexOf(0, language + 1);
        if (translated !== -1)
          info.text[data.toString('latin1', 0, nul)] = data.toString('utf8', translated + 1);
      }
    }
    at = end + 4;
  }
  return info;
}
