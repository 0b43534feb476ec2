/**
 * Multi-selection over an ordered list, with the desktop conventions:
 * click selects one, Ctrl/Cmd-click toggles, Shift-click selects the range from the
 * anchor (Ctrl+Shift adds the range), Ctrl/Cmd-A selects all, Space toggles the focused item.
 */

export class Selection {
  private readonly set = new Set<string>();
  anchor: string | null = null;
  private listeners = new Set<() => void>();

  get size(): number {
    return this.set.size;
  }

  has(id: string): boolean {
    return this.set.has(id);
  }

  ids(): string[] {
    return [...this.set];
  }

  /** Selected ids in list order (what batch actions should use). */
  ordered(order: readonly string[]): string[] {
    return order.filter((id) => this.set.has(id));
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  /** Replace the selection with one item. */
  only(id: string): void {
    this.set.clear();
    this.set.add(id);
    this.anchor = id;
    this.emit();
  }

  toggle(id: string): void {
    if (this.set.has(id)) this.set.delete(id);
    else this.set.add(id);
    this.anchor = id;
    this.emit();
  }

  /** Select from the anchor to `id` (inclusive). `additive` keeps what was selected. */
  range(order: readonly string[], id: string, additive = false): void {
    const to = order.indexOf(id);
    if (to < 0) return;
    let from = this.anchor ? order.indexOf(this.anchor) : -1;
    if (from < 0) from = to;
    const [lo, hi] = from <= to ? [from, to] : [to, from];
    if (!additive) this.set.clear();
    for (let i = lo; i <= hi; i++) this.set.add(order[i]);
    if (!this.anchor || order.indexOf(this.anchor) < 0) this.anchor = id;
    this.emit();
  }

  /** A pointer click with its modifier keys. */
  click(order: readonly string[], id: string, mods: { shift?: boolean; toggle?: boolean }): void {
    if (mods.shift) this.range(order, id, !!mods.toggle);
    else if (mods.toggle) this.toggle(id);
    else this.only(id);
  }

  selectAll(order: readonly string[]): void {
    for (const id of order) this.set.add(id);
    if (!this.anchor && order.length) this.anchor = order[0];
    this.emit();
  }

  clear(): void {
    if (!this.set.size && !this.anchor) return;
    this.set.clear();
    this.anchor = null;
    this.emit();
  }

  /** Drop ids that no longer exist (after deletes or a new filter). */
  retain(existing: ReadonlySet<string>): void {
    let changed = false;
    for (const id of this.set) {
      if (!existing.has(id)) {
        this.set.delete(id);
        changed = true;
      }
    }
    if (this.anchor && !existing.has(this.anchor)) this.anchor = null;
    if (changed) this.emit();
  }

  remove(ids: Iterable<string>): void {
    let changed = false;
    for (const id of ids) changed = this.set.delete(id) || changed;
    if (this.anchor && !this.set.has(this.anchor)) this.anchor = this.set.size ? this.anchor : null;
    if (changed) this.emit();
  }
}
