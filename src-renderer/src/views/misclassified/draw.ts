/** Drawing misclassified images on canvases: one tile, and several galleries side by side for PNG export. */
import type { MisclassifiedItem, MisclassifiedResult } from '../../../../src-main/contract/study';
import { formatPercent } from '../../../../src-main/contract/format';

/** Raw bytes of an item (base64 → Uint8Array). */
export function itemBytes(item: MisclassifiedItem): Uint8Array {
  const bin = atob(item.pixels);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Paints an image scaled by `scale` with crisp pixels at (ox, oy). */
export function paintImage(ctx: CanvasRenderingContext2D, bytes: Uint8Array, shape: [number, number, number], ox: number, oy: number, scale: number): void {
  const [h, w, c] = shape;
  const img = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const r = bytes[i * c];
    img.data[i * 4] = r;
    img.data[i * 4 + 1] = c === 3 ? bytes[i * c + 1] : r;
    img.data[i * 4 + 2] = c === 3 ? bytes[i * c + 2] : r;
    img.data[i * 4 + 3] = 255;
  }
  const tmp = document.createElement('canvas');
  tmp.width = w;
  tmp.height = h;
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, ox, oy, w * scale, h * scale);
}

/** The heading of one gallery: run, checkpoint and counts, as on screen and in the PNG. */
export function galleryHeading(r: MisclassifiedResult, name: string): { title: string; detail: string } {
  return {
    title: `${name} — ${r.checkpoint.tag} checkpoint (epoch ${r.checkpoint.epoch})`,
    detail: `first ${r.items.length} of ${r.wrong} misclassified among ${r.evaluated} test images · accuracy ${formatPercent(r.accuracy)} · ${r.dataset}`,
  };
}

/** Caption lines of one tile, as on screen and in the PNG. */
export function tileCaption(it: MisclassifiedItem): [string, string, string] {
  return [`actual: ${it.actualName}`, `predicted: ${it.predictedName}`, `p=${it.confidence.toFixed(2)} · #${it.index}`];
}

function fitText(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) return text;
  let t = text;
  while (t.length > 1 && ctx.measureText(`${t}…`).width > width) t = t.slice(0, -1);
  return `${t}…`;
}

/**
 * Several galleries side by side in one canvas (one column block per run, 5 tiles a row), each
 * under its heading with the run's colour; tiles captioned with actual and predicted class names.
 */
export function galleriesCanvas(galleries: readonly { result: MisclassifiedResult; name: string; color: string }[], cols = 5, scale = 3): HTMLCanvasElement {
  const cellW = 124;
  const gap = 28;
  const headH = 54;
  const font = '"DejaVu Sans", system-ui, sans-serif';
  const blocks = galleries.map((g) => {
    const [h, w] = g.result.imageShape;
    const rows = Math.max(1, Math.ceil(g.result.items.length / cols));
    const cellH = h * scale + 50;
    return { g, h, w, rows, cellH, width: cols * cellW, height: headH + rows * cellH };
  });
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, blocks.reduce((s, b) => s + b.width, 0) + gap * Math.max(0, blocks.length - 1) + 2 * 16);
  canvas.height = Math.max(1, Math.max(0, ...blocks.map((b) => b.height)) + 2 * 12);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let ox = 16;
  for (const b of blocks) {
    const r = b.g.result;
    const head = galleryHeading(r, b.g.name);
    ctx.fillStyle = b.g.color;
    ctx.fillRect(ox, 14, 12, 12);
    ctx.fillStyle = '#111';
    ctx.textAlign = 'left';
    ctx.font = `bold 14px ${font}`;
    ctx.fillText(fitText(ctx, head.title, b.width - 18), ox + 18, 25);
    ctx.font = `12px ${font}`;
    ctx.fillStyle = '#444';
    ctx.fillText(fitText(ctx, head.detail, b.width), ox, 44);
    r.items.forEach((it, k) => {
      const cx = ox + (k % cols) * cellW;
      const cy = 12 + headH + Math.floor(k / cols) * b.cellH;
      paintImage(ctx, itemBytes(it), r.imageShape, cx + (cellW - b.w * scale) / 2, cy, scale);
      const [a, p, c] = tileCaption(it);
      ctx.textAlign = 'center';
      ctx.font = `11px ${font}`;
      ctx.fillStyle = '#14532d';
      ctx.fillText(fitText(ctx, a, cellW - 6), cx + cellW / 2, cy + b.h * scale + 13);
      ctx.fillStyle = '#991b1b';
      ctx.fillText(fitText(ctx, p, cellW - 6), cx + cellW / 2, cy + b.h * scale + 27);
      ctx.fillStyle = '#555';
      ctx.fillText(fitText(ctx, c, cellW - 6), cx + cellW / 2, cy + b.h * scale + 41);
    });
    ox += b.width + gap;
  }
  return canvas;
}
