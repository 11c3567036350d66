/**
 * How numbers, dates and labels read, in one place for the renderer, the CLI and the report:
 * every view and every exported file formats a percentage or a date the same way. Pure (no DOM,
 * no Node), so both sides import it.
 */

const DASH = '—';

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

/** A fraction (0..1) as a percentage: 0.98345 → "98.35%"; null, undefined or NaN → "—". */
export function formatPercent(fraction: number | null | undefined, digits = 2): string {
  return finite(fraction) ? `${(100 * fraction).toFixed(digits)}%` : DASH;
}

/** A difference of two fractions in percentage points, signed: 0.0025 → "+0.25 pts". */
export function formatPoints(delta: number | null | undefined, digits = 2): string {
  if (!finite(delta)) return DASH;
  const v = (100 * delta).toFixed(digits);
  return `${delta >= 0 && !v.startsWith('-') ? '+' : ''}${v} pts`;
}

/** A loss value: four decimals ("0.0734"), or "—". */
export function formatLoss(x: number | null | undefined): string {
  return finite(x) ? x.toFixed(4) : DASH;
}

/** A whole count with thousands separators: 8915 → "8,915". */
export function formatCount(n: number | null | undefined): string {
  return finite(n) ? Math.round(n).toLocaleString('en-US') : DASH;
}

/**
 * A plain number with `sig` significant digits and no float noise or trailing zeros:
 * 21 → "21", 0.000049999 → "5e-5", 1234.5678 → "1235", 0.1 + 0.2 → "0.3".
 */
export function formatNumber(x: number | null | undefined, sig = 4): string {
  if (!finite(x)) return DASH;
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e6) {
    const s = Number(x.toPrecision(sig));
    return String(s);
  }
  const [m, e] = x.toExponential(sig - 1).split('e');
  return `${String(Number(m))}e${Number(e)}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function parseDate(iso: string | number | Date | null | undefined): Date | null {
  if (iso === null || iso === undefined || iso === '') return null;
  const d = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A moment in local time, "2026-12-02 14:05" (sortable, unambiguous in every locale); "—" when missing. */
export function formatDateTime(iso: string | number | Date | null | undefined): string {
  const d = parseDate(iso);
  if (!d) return DASH;
  return `${formatDate(d)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** The day of a moment in local time, "2026-12-02". */
export function formatDate(iso: string | number | Date | null | undefined): string {
  const d = parseDate(iso);
  if (!d) return DASH;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

/** A duration: "42 s", "3 min 05 s", "2 h 04 min"; "—" when unknown or negative. */
export function formatDuration(seconds: number | null | undefined): string {
  if (!finite(seconds) || seconds < 0) return DASH;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad2(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad2(Math.floor((s % 3600) / 60))} min`;
}

/** A file size: "36.2 KiB", "1.4 MiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (!finite(bytes)) return DASH;
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * "label: text", unless `text` already starts with the label (a run named "L1 (λ=0.00005)" whose
 * note begins "L1 (λ=0.00005): …" reads once, not twice).
 */
export function labelled(label: string, text: string): string {
  const l = label.trim();
  if (!l) return text;
  const t = text.trimStart();
  if (t === l || t.startsWith(`${l}:`) || t.startsWith(`${l} `)) return t;
  return `${l}: ${t}`;
}

/** A run's variant name without a trailing " · seed N", so the seeds of one configuration share it. */
export function baseLabel(name: string): string {
  return name.replace(/ · seed \d+$/, '');
}

/**
 * Names that tell runs apart in lists and legends: a run's own name (or id) when no other run
 * shares it, else the name followed by its study's name (or, outside a study, its creation time),
 * and the id's tail when even that repeats. Keys are run ids.
 */
export function distinctRunNames(
  runs: readonly { id: string; name: string; study?: string; created?: string }[],
  studyNames: Readonly<Record<string, string>> = {},
): Map<string, string> {
  const base = (r: (typeof runs)[number]) => (r.name || r.id).trim() || r.id;
  const count = new Map<string, number>();
  for (const r of runs) count.set(base(r), (count.get(base(r)) ?? 0) + 1);
  const first = new Map<string, string>();
  for (const r of runs) {
    const b = base(r);
    if ((count.get(b) ?? 0) < 2) first.set(r.id, b);
    else {
      const where = r.study ? studyNames[r.study] || r.study : r.created ? formatDateTime(r.created) : r.id;
      first.set(r.id, `${b} · ${where}`);
    }
  }
  const again = new Map<string, number>();
  for (const v of first.values()) again.set(v, (again.get(v) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const r of runs) {
    const v = first.get(r.id)!;
    out.set(r.id, (again.get(v) ?? 0) > 1 ? `${v} · ${r.id.slice(-4)}` : v);
  }
  return out;
}
