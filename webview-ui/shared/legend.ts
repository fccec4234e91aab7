import { h } from './dom';
import { classColor } from './theme';

/**
 * Class legend: one button per class with its colour and count. Click isolates the class (click it again
 * to show all); Shift+click hides or shows just that class. Buttons, so Tab / Enter / Space work.
 */
export class Legend {
  readonly el: HTMLElement;
  private names: string[] = [];
  private counts: number[] = [];

  constructor(
    private hidden: Set<number>,
    private readonly onChange: (hidden: Set<number>) => void,
  ) {
    this.el = h('div', { class: 'legend', role: 'group', 'aria-label': 'Classes (click to isolate, Shift+click to toggle)' });
  }

  set(names: string[], labels: ArrayLike<number>): void {
    const k = Math.max(names.length, ...Array.from(labels, (l) => l + 1));
    this.names = Array.from({ length: k }, (_, i) => names[i] ?? `class ${i}`);
    this.counts = new Array<number>(k).fill(0);
    for (let i = 0; i < labels.length; i++) this.counts[labels[i]]++;
    this.render();
  }

  setHidden(hidden: Set<number>): void {
    this.hidden = hidden;
    this.render();
  }

  private click(c: number, toggle: boolean): void {
    const all = this.names.map((_, i) => i);
    let next: Set<number>;
    if (toggle) {
      next = new Set(this.hidden);
      if (next.has(c)) next.delete(c);
      else next.add(c);
    } else {
      const isolated = all.every((i) => (i === c ? !this.hidden.has(i) : this.hidden.has(i)));
      next = isolated ? new Set() : new Set(all.filter((i) => i !== c));
    }
    this.hidden = next;
    this.render();
    this.onChange(next);
  }

  private render(): void {
    this.el.replaceChildren(
      ...this.names.map((name, c) => {
        if (!this.counts[c]) return '';
        const b = h(
          'button',
          { type: 'button', 'aria-pressed': String(!this.hidden.has(c)), 'data-class': c, title: `${name}: ${this.counts[c]} points` },
          h('span', { class: 'swatch' }),
          `${name} (${this.counts[c]})`,
        );
        (b.firstChild as HTMLElement).style.background = classColor(c);
        b.addEventListener('click', (e) => this.click(c, e.shiftKey));
        return b;
      }),
    );
  }
}
