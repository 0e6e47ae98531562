"""Accessibility basics, checked in the page by the browser itself: labels, heading order, keyboard
reach and colour contrast (WCAG 2.1 AA: 4.5:1 for text, 3:1 for large text)."""

from __future__ import annotations

from typing import Any

LABELS_AND_HEADINGS = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const labelled = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby');
    if (!labelled) problems.push('a form field has no label: ' + el.outerHTML.slice(0, 120));
  }
  const headings = document.querySelectorAll('h1, h2, h3, h4, h5, h6');
  const levels = [...headings].map((h) => Number(h.tagName[1]));
  const ones = levels.filter((level) => level === 1).length;
  if (ones !== 1) problems.push('the page has ' + ones + ' h1 headings');
  if (levels.length && levels[0] !== 1) problems.push('the first heading is h' + levels[0]);
  for (let i = 1; i < levels.length; i++) {
    if (levels[i] > levels[i - 1] + 1) {
      problems.push('headings skip from h' + levels[i - 1] + ' to h' + levels[i]);
    }
  }
  for (const el of document.querySelectorAll('[tabindex]')) {
    const order = Number(el.getAttribute('tabindex'));
    if (order > 0) problems.push('positive tabindex: ' + el.outerHTML.slice(0, 80));
  }
  return problems;
}"""

FOCUSABLE = """() => [...document.querySelectorAll(
    'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]),'
    + ' textarea:not([disabled]), summary')]
  .filter((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
  .map((el, index) => { el.dataset.a11yIndex = String(index); return index; }).length"""

ACTIVE_INDEX = "() => document.activeElement && document.activeElement.dataset.a11yIndex"

CONTRAST = """() => {
  const parse = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const [r, g, b, a = 1] = parse(getComputedStyle(node).backgroundColor);
      if (a > 0.5) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const problems = [];
  const seen = new Set();
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
    if (!text || el.getClientRects().length === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || Number(style.opacity) === 0) continue;
    const fg = luminance(parse(style.color)), bg = luminance(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const key = style.color + '/' + background(el).join(',');
    if (ratio < needed && !seen.has(key)) {
      seen.add(key);
      problems.push(`contrast ${ratio.toFixed(2)} < ${needed} for "${text.slice(0, 40)}" (${key})`);
    }
  }
  return problems;
}"""


def accessibility_problems(page: Any, max_tabs: int = 400) -> list[str]:
    """What a person using a keyboard or a screen reader, or with low vision, would trip over."""
    problems: list[str] = list(page.evaluate(LABELS_AND_HEADINGS))
    problems += page.evaluate(CONTRAST)
    total = page.evaluate(FOCUSABLE)
    reached: set[str] = set()
    page.locator("body").focus()
    for _ in range(min(max_tabs, total + 2)):
        page.keyboard.press("Tab")
        index = page.evaluate(ACTIVE_INDEX)
        if index is not None:
            reached.add(index)
    if total <= max_tabs and len(reached) < total:
        problems.append(f"only {len(reached)} of {total} controls are reachable with the Tab key")
    return problems
