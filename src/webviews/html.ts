/**
 * The HTML of every panel: one stylesheet and one script from dist/webview, nothing inline. The CSP
 * allows scripts only with this page's nonce and styles, images and fonts only from the webview's own
 * resource origin (`cspSource`): no 'unsafe-inline', no 'unsafe-eval'. Canvases and uPlot set styles
 * through the CSSOM, which the CSP does not restrict.
 */
export interface PageParts {
  /** `webview.cspSource` (in the test harness: the harness server's origin). */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
  title: string;
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [`default-src 'none'`, `style-src ${cspSource}`, `img-src ${cspSource} data:`, `font-src ${cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
}

export function webviewHtml(p: PageParts): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(p.styleUri)}">
<title>${escapeAttr(p.title)}</title>
</head>
<body>
<script nonce="${escapeAttr(p.nonce)}" src="${escapeAttr(p.scriptUri)}"></script>
</body>
</html>`;
}

/** The bundle name (dist/webview/<name>.js and .css) of each panel. */
export const PANEL_BUNDLES = { dashboard: 'dashboard', embeddings: 'embeddings', augmentations: 'augment', compare: 'compare', sweep: 'sweep' } as const;
export type PanelKind = keyof typeof PANEL_BUNDLES;
