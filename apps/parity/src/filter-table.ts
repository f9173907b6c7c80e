import { escapeHtml } from './svg-plots.js';

/**
 * Filters the table each `input[data-filter]` names by the words typed into it: a row stays when its
 * text contains every word (case-insensitive); the count beside the box follows.
 */
export const FILTER_SCRIPT = `<script>
for (const input of document.querySelectorAll('input[data-filter]')) {
  const table = document.getElementById(input.dataset.filter);
  const count = document.getElementById(input.dataset.filter + '-count');
  const rows = [...table.tBodies[0].rows];
  const texts = rows.map((row) => row.textContent.toLowerCase());
  input.addEventListener('input', () => {
    const words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    let shown = 0;
    rows.forEach((row, i) => {
      const keep = words.every((w) => texts[i].includes(w));
      row.hidden = !keep;
      if (keep) shown++;
    });
    count.textContent = shown + ' of ' + rows.length + ' rows';
  });
}
</script>`;

/**
 * A collapsed `<details>` holding a table (cells already HTML-escaped) and a search box that
 * filters its rows (with `FILTER_SCRIPT` on the page).
 */
export function filterableTable(id: string, summary: string, header: readonly string[], rows: readonly string[][]): string {
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((cells) => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return (
    `<details id="${id}-details"><summary>${escapeHtml(summary)}</summary>` +
    `<p class="filter"><input type="search" data-filter="${id}" placeholder="filter: words to match, e.g. gpujs spikes" aria-label="filter rows"> ` +
    `<span id="${id}-count">${rows.length} of ${rows.length} rows</span></p>` +
    `<table id="${id}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></details>`
  );
}
