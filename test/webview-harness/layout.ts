import type { Page } from 'playwright-core';

/**
 * What is wrong with a page's layout at its current width, one line per problem:
 *  - two boxes in the normal flow that overlap (siblings, so a parameter panel drawn over an image
 *    column is caught as the column's content overlapping the panel);
 *  - content that sticks out of a box that does not clip or scroll it, over whatever is next to it;
 *  - a page wider than the window (sideways scrolling of the whole panel).
 * Absolutely and fixed positioned elements (tooltips, chart overlays) and the insides of charts and
 * canvases are left out: they are meant to sit on top of other things.
 */
export async function layoutProblems(page: Page): Promise<string[]> {
  // A string, not a function: this file is compiled without the DOM lib, and the page has no `__name`.
  return page.evaluate(`(() => {
    const TOL = 1;
    const problems = [];
    const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
    const path = (el) => { const parts = []; for (let e = el; e && e !== document.body && parts.length < 3; e = e.parentElement) parts.unshift(name(e)); return parts.join(' > '); };
    const inFlow = (el) => {
      const cs = getComputedStyle(el);
      if (cs.display === 'none' || cs.visibility === 'hidden' || cs.position === 'absolute' || cs.position === 'fixed') return false;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    };
    const opaque = (el) => el.closest('.uplot, svg, canvas, option, select');
    const clips = (el) => { const cs = getComputedStyle(el); return cs.overflowX !== 'visible' || cs.overflowY !== 'visible' || el.tagName === 'DETAILS'; };
    const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > TOL && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > TOL;
    const walk = (parent) => {
      if (opaque(parent)) return;
      const kids = [...parent.children].filter((c) => !opaque(c) && inFlow(c));
      const boxes = kids.map((k) => k.getBoundingClientRect());
      const pr = parent.getBoundingClientRect();
      for (let i = 0; i < kids.length; i++) {
        for (let j = i + 1; j < kids.length; j++) if (overlap(boxes[i], boxes[j])) problems.push(path(kids[i]) + ' overlaps ' + name(kids[j]));
        if (parent !== document.body && !clips(parent) && getComputedStyle(parent).display !== 'inline' && (boxes[i].right > pr.right + TOL || boxes[i].left < pr.left - TOL)) {
          problems.push(path(kids[i]) + ' sticks out of ' + name(parent) + ' (' + Math.round(boxes[i].left - pr.left) + '..' + Math.round(boxes[i].right - pr.left) + ' px in a ' + Math.round(pr.width) + ' px box)');
        }
      }
      for (const k of kids) walk(k);
    };
    walk(document.body);
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth + TOL) problems.push('the page is ' + doc.scrollWidth + ' px wide in a ' + window.innerWidth + ' px window');
    return problems;
  })()`);
}
