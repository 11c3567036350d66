/**
 * Colours in the renderer: the contract's one rule (a run keeps its colour in every view and
 * export), fed with every run and study the app knows, and the fixed colours of the splits.
 */
import type { RunRecord } from '../../../../src-main/contract/api';
import type { StudySummary } from '../../../../src-main/contract/study';
import { PALETTE, SPLIT_COLORS, assignColors, colorSlots, hashString } from '../../../../src-main/contract/colors';

export { PALETTE, SPLIT_COLORS };

/**
 * Colours for the runs of one chart, in drawing order. `known` are all the runs the view has
 * listed (a study's variant slots need its other runs' names); `studies` their study records.
 * Runs in one `groups` entry (seeds of a configuration) share their first run's colour.
 */
export function runColors(
  chartRunIds: readonly string[],
  known: readonly Pick<RunRecord, 'id' | 'name' | 'study'>[],
  studies: readonly Pick<StudySummary, 'id' | 'runIds'>[] = [],
  groups: readonly { runIds: readonly string[] }[] = [],
): Map<string, string> {
  const slots = colorSlots(known, studies);
  const groupOf = new Map<string, string>();
  for (const g of groups) for (const id of g.runIds) groupOf.set(id, g.runIds[0]);
  return assignColors(
    chartRunIds.map((id) => {
      const lead = groupOf.get(id) ?? id;
      return { id, slot: slots.get(lead) ?? slots.get(id) ?? hashString(lead) % PALETTE.length, group: lead };
    }),
  );
}
