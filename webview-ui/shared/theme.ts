/** Colours from the VS Code theme (its CSS variables), for what is drawn on canvases. */
export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim() || getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export const themeColors = () => ({
  foreground: cssVar('--vscode-foreground', '#cccccc'),
  muted: cssVar('--vscode-descriptionForeground', '#9d9d9d'),
  background: cssVar('--vscode-editor-background', '#1e1e1e'),
  grid: cssVar('--vscode-editorWidget-border', '#454545'),
  focus: cssVar('--vscode-focusBorder', '#007fd4'),
  font: cssVar('--vscode-font-family', 'system-ui, sans-serif'),
});

/**
 * Ten well-separated class colours (Tableau 10), readable on dark and light themes; the run colours use
 * the theme's own chart colours first.
 */
export const CLASS_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export const classColor = (label: number): string => CLASS_COLORS[((label % CLASS_COLORS.length) + CLASS_COLORS.length) % CLASS_COLORS.length];

export function runColor(i: number): string {
  const names = ['blue', 'orange', 'green', 'purple', 'red', 'yellow'];
  const fallback = ['#3794ff', '#d18616', '#89d185', '#b180d7', '#f14c4c', '#cca700'];
  return cssVar(`--vscode-charts-${names[i % names.length]}`, fallback[i % fallback.length]);
}

/** Re-runs `fn` when VS Code switches theme (it changes the body's class). */
export function onThemeChange(fn: () => void): void {
  new MutationObserver(fn).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
