/**
 * The model new runs and studies start with, chosen in the Model view ("Use for new runs") and
 * read by the run form and the study launcher. Kept in the page's localStorage: it is a UI
 * preference, not a setting of any run (each run records the graph it trained).
 */
const KEY = 'normlab.model';

/** The chosen model (a preset name or a JSON path), `s5` when none was chosen. */
export function chosenModel(): string {
  try {
    return localStorage.getItem(KEY) || 's5';
  } catch {
    return 's5';
  }
}

export function setChosenModel(value: string): void {
  try {
    localStorage.setItem(KEY, value);
  } catch {
    // Storage may be off (private mode): the choice then lasts for this page only.
  }
}
