/**
 * Misclassified galleries as one image: a grid of tiles (the test image scaled up with crisp
 * pixels) each captioned "actual: X / predicted: Y (p=0.87)". Built as SVG with the tiles as
 * embedded PNGs, then rasterized with resvg (system fonts: DejaVu).
 */
import { encode } from 'fast-png';
import { Resvg } from '@resvg/resvg-js';
import type { MisclassifiedResult } from '../contract/study';
import { itemPixels } from './misclassified';
import { esc } from './svg-charts';

/** A PNG of one image's raw bytes (grey or RGB). */
export function tilePng(pixels: Uint8Array, shape: [number, number, number]): Uint8Array {
  const [h, w, c] = shape;
  return encode({ width: w, height: h, data: pixels, channels: c === 3 ? 3 : 1, depth: 8 });
}

/** The caption of a tile, exactly as drawn. */
export function caption(item: { actualName: string; predictedName: string; confidence: number }): [string, string] {
  return [`actual: ${item.actualName}`, `predicted: ${item.predictedName} (p=${item.confidence.toFixed(2)})`];
}

export interface GalleryLayout {
  cols: number;
  rows: number;
  tile: number;
  cellW: number;
  cellH: number;
  width: number;
  height: number;
}

export function galleryLayout(n: number, cols = 5, tile = 112): GalleryLayout {
  const rows = Math.max(1, Math.ceil(n / cols));
  const cellW = 200;
  const cellH = tile + 44;
  return { cols, rows, tile, cellW, cellH, width: cols * cellW, height: 40 + rows * cellH };
}

/** The gallery as an SVG document (tiles embedded as data: PNGs). */
export function gallerySvg(r: MisclassifiedResult, title: string): string {
  const L = galleryLayout(r.items.length);
  const parts: string[] = [];
  r.items.forEach((it, k) => {
    const cx = (k % L.cols) * L.cellW;
    const cy = 40 + Math.floor(k / L.cols) * L.cellH;
    const png = Buffer.from(tilePng(itemPixels(it), r.imageShape)).toString('base64');
    const ix = cx + (L.cellW - L.tile) / 2;
    const [a, p] = caption(it);
    parts.push(
      `<image x="${ix}" y="${cy}" width="${L.tile}" height="${L.tile}" image-rendering="pixelated" style="image-rendering:pixelated" href="data:image/png;base64,${png}"/>` +
        `<rect x="${ix}" y="${cy}" width="${L.tile}" height="${L.tile}" fill="none" stroke="#9ca3af"/>` +
        `<text x="${cx + L.cellW / 2}" y="${cy + L.tile + 15}" font-size="12" text-anchor="middle" font-family="DejaVu Sans" fill="#14532d">${esc(a)}</text>` +
        `<text x="${cx + L.cellW / 2}" y="${cy + L.tile + 31}" font-size="12" text-anchor="middle" font-family="DejaVu Sans" fill="#991b1b">${esc(p)}</text>`,
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${L.width / 2}" y="26" font-size="16" font-weight="bold" text-anchor="middle" font-family="DejaVu Sans">${esc(title)}</text>` +
    parts.join('') +
    `</svg>`
  );
}

/** Rasterizes an SVG document to PNG bytes (fonts from the system, DejaVu preferred). */
export function svgToPng(svg: string, scale = 1): Buffer {
  const r = new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    fitTo: scale === 1 ? { mode: 'original' } : { mode: 'zoom', value: scale },
    background: '#ffffff',
  });
  return r.render().asPng();
}

/** Title of a gallery: run name, counts and checkpoint. */
export function galleryTitle(r: MisclassifiedResult): string {
  return `${r.runName}: first ${r.items.length} misclassified of ${r.evaluated} test images (${r.wrong} wrong, acc ${(100 * r.accuracy).toFixed(2)}%, ${r.checkpoint.tag} epoch ${r.checkpoint.epoch})`;
}
