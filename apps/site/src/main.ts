import './styles.css';
import { catalog } from './catalog.js';
import { type Detection, detect } from './detect.js';
import { recommend } from './recommend.js';
import { detectionList, el, plannedTable, recommendationBlock, resultsTable, speedChart } from './render.js';
import { benchReport, parityReport } from './reports.js';
import { type RunPlan, runPlan } from './runner.js';
import { chosenShape, type ShapeChoice, ShapeListError } from './shapes.js';
import { runtimeFor } from './subjects.js';
import { summarize } from './summary.js';

/** Golden scenarios of the short parity check: optimi's defaults and clipping spikes, and bf16 with Kahan summation. */
const SCENARIOS: RunPlan['scenarios'] = {
  float32: ['golden/defaults-f32', 'golden/clipping-spikes-f32'],
  bfloat16: ['golden/bf16-kahan'],
};

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = byId<HTMLFormElement>('run-form');
const shapeSelect = byId<HTMLSelectElement>('shape');
const customField = byId<HTMLDivElement>('custom-field');
const customInput = byId<HTMLInputElement>('custom');
const stepsInput = byId<HTMLInputElement>('steps');
const runButton = byId<HTMLButtonElement>('run');
const cancelButton = byId<HTMLButtonElement>('cancel');
const progress = byId<HTMLProgressElement>('progress');
const statusLine = byId<HTMLParagraphElement>('status');
const formError = byId<HTMLParagraphElement>('form-error');

let controller: AbortController | undefined;
let objectUrls: string[] = [];

const setState = (state: string) => {
  document.body.dataset.state = state;
};

function plans(d: Detection) {
  return catalog(d).map((entry) => {
    const missing = entry.missing(d);
    return { entry, runsOn: entry.runsOn(d), ...(missing ? { missing } : {}) };
  });
}

/** A link that saves `data` as `file` from a Blob (nothing leaves the tab). */
function downloadLink(id: string, file: string, text: string, data: unknown): HTMLElement {
  // Non-finite numbers become null, as the CLIs write them.
  const json = `${JSON.stringify(data, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
  const url = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  objectUrls.push(url);
  return el('a', { id, href: url, download: file }, text);
}

function readSteps(): number {
  const steps = Number(stepsInput.value);
  if (!Number.isInteger(steps) || steps < 1 || steps > 50) {
    throw new RangeError(`Timed steps must be a whole number from 1 to 50. Received: ${stepsInput.value || 'nothing'}.`);
  }
  return steps;
}

async function start(d: Detection): Promise<void> {
  formError.textContent = '';
  customInput.removeAttribute('aria-invalid');
  stepsInput.removeAttribute('aria-invalid');
  let shape: ReturnType<typeof chosenShape>;
  let steps: number;
  try {
    shape = chosenShape(shapeSelect.value as ShapeChoice, customInput.value);
    steps = readSteps();
  } catch (error) {
    if (!(error instanceof ShapeListError || error instanceof RangeError)) throw error;
    formError.textContent = error.message;
    const field = error instanceof ShapeListError ? customInput : stepsInput;
    field.setAttribute('aria-invalid', 'true');
    field.focus();
    return;
  }
  for (const url of objectUrls) URL.revokeObjectURL(url);
  objectUrls = [];
  byId('results-section').hidden = true;
  const current = new AbortController();
  controller = current;
  runButton.disabled = true;
  cancelButton.disabled = false;
  setState('running');
  const backends = plans(d).map(({ entry, missing }) => ({
    entry,
    ...(missing ? { missing } : {}),
    runtime: () => runtimeFor(entry, d),
  }));
  const plan: RunPlan = { backends, shape, warmup: 1, steps, scenarios: SCENARIOS };
  try {
    const outcome = await runPlan(
      plan,
      {
        progress(done, total, doing) {
          progress.max = Math.max(total, 1);
          progress.value = done;
          statusLine.textContent = done === total ? 'Finished.' : `${done + 1} of ${total}: ${doing}`;
        },
        status() {},
        parity() {},
        row() {},
      },
      current.signal,
    );
    const bench = benchReport(outcome.rows, plan, shape, d);
    const summaries = summarize(plans(d), outcome.backends, outcome.results, bench.rows);
    byId('recommendation').replaceChildren(
      outcome.cancelled
        ? el(
            'p',
            { 'data-testid': 'recommendation' },
            'Cancelled: the table shows what finished; run again for a recommendation.',
          )
        : recommendationBlock(recommend(summaries)),
    );
    byId('results').replaceChildren(resultsTable(summaries));
    byId('chart').replaceChildren(speedChart(summaries));
    byId('downloads').replaceChildren(
      downloadLink('download-bench', 'bench.json', 'Download bench.json', bench),
      downloadLink('download-parity', 'report.json', 'Download report.json (parity)', parityReport(outcome, plan, d)),
    );
    byId('results-section').hidden = false;
    statusLine.textContent = outcome.cancelled ? 'Cancelled.' : `Finished: ${shape.description}.`;
    setState(outcome.cancelled ? 'cancelled' : 'done');
    byId('results-heading').focus();
  } catch (error) {
    statusLine.textContent = `The run stopped on an error: ${error instanceof Error ? error.message : String(error)}`;
    setState('error');
  } finally {
    controller = undefined;
    runButton.disabled = false;
    cancelButton.disabled = true;
  }
}

async function init(): Promise<void> {
  const d = await detect();
  const detection = byId('detection');
  detection.replaceChildren(detectionList(d));
  detection.removeAttribute('aria-busy');
  byId('planned').replaceChildren(plannedTable(plans(d).map((p) => ({ ...p, id: p.entry.id, pkg: p.entry.pkg }))));
  shapeSelect.addEventListener('change', () => {
    customField.hidden = shapeSelect.value !== 'custom';
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!controller) void start(d);
  });
  cancelButton.addEventListener('click', () => {
    controller?.abort();
    cancelButton.disabled = true;
    statusLine.textContent = 'Cancelling after the current step…';
  });
  runButton.disabled = false;
  setState('ready');
}

void init();
