/** Drawing misclassified images on canvases: one tile, and the whole grid for PNG export. */
import type { MisclassifiedItem, MisclassifiedResult } from '../../../../src-main/contract/study';

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

/** The whole gallery (5 columns, captions under each tile) as one canvas. */
export function galleryCanvas(r: MisclassifiedResult, cols = 5, scale = 4): HTMLCanvasElement {
  const [h, w] = r.imageShape;
  const cellW = Math.max(w * scale, 200);
  const cellH = h * scale + 44;
  const rows = Math.ceil(r.items.length / cols);
  const canvas = document.createElement('canvas');
  canvas.width = cols * cellW;
  canvas.height = 36 + rows * cellH;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#111';
  ctx.font = 'bold 15px sans-serif';
  ctx.textAlign = 'center';
  ctx.fillText(`${r.runName}: ${r.items.length} misclassified of ${r.evaluated} (${r.checkpoint.tag} epoch ${r.checkpoint.epoch})`, canvas.width / 2, 22);
  r.items.forEach((it, k) => {
    const cx = (k % cols) * cellW;
    const cy = 36 + Math.floor(k / cols) * cellH;
    paintImage(ctx, itemBytes(it), r.imageShape, cx + (cellW - w * scale) / 2, cy, scale);
    ctx.font = '12px sans-serif';
    ctx.fillStyle = '#14532d';
    ctx.fillText(`actual: ${it.actualName}`, cx + cellW / 2, cy + h * scale + 15);
    ctx.fillStyle = '#991b1b';
    ctx.fillText(`predicted: ${it.predictedName} (p=${it.confidence.toFixed(2)})`, cx + cellW / 2, cy + h * scale + 31);
  });
  return canvas;
}
