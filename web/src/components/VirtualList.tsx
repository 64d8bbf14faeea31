// A windowed list: only the rows in view (plus a few around them) are in the DOM, so a list
// of ten thousand conversations scrolls like a list of twenty. Rows have one fixed height;
// `onEndReached` asks for the next keyset page when the end comes into view.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

interface Props<T> {
  items: T[];
  rowHeight: number;
  /** Rows rendered beyond the visible ones on each side. */
  overscan?: number;
  /** Rows before the end at which the next page is asked for. */
  endThreshold?: number;
  label: string;
  keyOf: (item: T) => string;
  row: (item: T, index: number) => ComponentChildren;
  onEndReached?: () => void;
  /** Scroll so that this row is visible (the selected conversation, j/k). */
  focusIndex?: number;
}

const DEFAULT_OVERSCAN = 6;
const DEFAULT_END_THRESHOLD = 10;

export function VirtualList<T>({ items, rowHeight, overscan = DEFAULT_OVERSCAN, endThreshold = DEFAULT_END_THRESHOLD, label, keyOf, row, onEndReached, focusIndex }: Props<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(0);

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    setHeight(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const element = box.current;
    if (!element || focusIndex === undefined || focusIndex < 0) return;
    const top = focusIndex * rowHeight;
    if (top < element.scrollTop) element.scrollTop = top;
    else if (top + rowHeight > element.scrollTop + element.clientHeight) element.scrollTop = top + rowHeight - element.clientHeight;
  }, [focusIndex]);

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / rowHeight) + overscan);

  useEffect(() => {
    if (onEndReached && items.length > 0 && last >= items.length - endThreshold) onEndReached();
  }, [last, items.length]);

  return (
    <div class="virtual-list" ref={box} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
      <ul aria-label={label} class="conversation-list" style={{ height: `${items.length * rowHeight}px`, position: "relative" }}>
        {items.slice(first, last).map((item, i) => (
          <li key={keyOf(item)} style={{ position: "absolute", top: `${(first + i) * rowHeight}px`, left: 0, right: 0, height: `${rowHeight}px` }}>
            {row(item, first + i)}
          </li>
        ))}
      </ul>
    </div>
  );
}
