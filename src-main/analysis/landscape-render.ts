/**
 * Files for `normlab landscape`: the contour plot(s) with the trajectory, the 1-D curve, as SVG
 * and PNG (resvg, DejaVu fonts), and the JSON report. Two runs share one colour scale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import type { LandscapeReport } from '../contract/landscape';
import { contourPlotSvg, linePlotSvg } from '../contract/math/landscape-plot';
import { PALETTE, hashString, runColor } from '../contract/colors';

/** Shared positive colour domain of several grids (losses), so two plots compare at a glance. */
export function sharedDomain(reports: LandscapeReport[]): [number, number] {
  const all = reports.flatMap((r) => r.grid.loss).filter((v) => Number.isFinite(v) && v > 0);
  if (!all.length) return [1e-3, 1];
  return [Math.min(...all), Math.max(...all)];
}

/** The contour plot of one report. */
export function reportContourSvg(r: LandscapeReport, domain?: [number, number]): string {
  const labels = r.trajectory?.epochs.map((e) => `e${e}`);
  return contourPlotSvg({
    xs: r.grid.xs,
    ys: r.grid.ys,
    values: r.grid.loss,
    domain,
    title: `${r.runName} — norm ${r.norm}, ${r.evalImages} images${r.recomputeBn ? ', BN recomputed' : ''}`,
    xLabel: r.grid.xLabel,
    yLabel: r.grid.yLabel,
    legendLabel: 'test loss (log scale)',
    ...(r.trajectory ? { path: { points: r.trajectory.points, labels } } : {}),
    markers: [{ x: 0, y: 0, label: `trained (${r.centre.loss.toFixed(3)})` }],
  });
}

/** The 1-D interpolation curve of one or two reports. */
export function reportLineSvg(reports: LandscapeReport[]): string | null {
  const withLine = reports.filter((r) => r.line);
  if (!withLine.length) return null;
  // A run outside a study keeps the colour its id gives it in every view (contract/colors).
  const colours = withLine.map((r) => runColor(hashString(r.runId) % PALETTE.length));
  return linePlotSvg({
    x: withLine[0].line!.alphas,
    series: withLine.flatMap((r, k) => [
      { values: r.line!.loss, label: `${r.runName} loss`, colour: colours[k], axis: 'left' as const },
      { values: r.line!.acc, label: `${r.runName} accuracy`, colour: colours[k], axis: 'right' as const, dashed: true },
    ]),
    title: '1-D interpolation: (1 − α)·initial + α·final',
    xLabel: 'α (0 = initial weights, 1 = trained weights)',
    leftLabel: 'test loss (log scale)',
    rightLabel: 'test accuracy (%)',
    logLeft: true,
    marks: [{ x: 0, label: 'initial' }, { x: 1, label: 'final' }],
  });
}

export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: '#ffffff' }).render().asPng();
}

/** Writes landscape-<run>.svg/.png, landscape-line.svg/.png and landscape.json into `dir`; returns the paths. */
export function writeLandscapeFiles(dir: string, reports: LandscapeReport[]): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, data: string | Buffer) => {
    const p = join(dir, name);
    writeFileSync(p, data);
    files.push(p);
  };
  const domain = reports.length > 1 ? sharedDomain(reports) : undefined;
  for (const r of reports) {
    const svg = reportContourSvg(r, domain);
    put(`landscape-${r.runId}.svg`, svg);
    put(`landscape-${r.runId}.png`, svgToPng(svg));
  }
  const line = reportLineSvg(reports);
  if (line) {
    put('landscape-line.svg', line);
    put('landscape-line.png', svgToPng(line));
  }
  put('landscape.json', JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 1) + '\n');
  return files;
}
