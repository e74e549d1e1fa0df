import { Notification, showErrorMessage } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { Widget } from '@lumino/widgets';

import { el, Field, textInput } from './dom';
import { showSubmitDialog } from './formdialog';
import { IJob, ITierOption, JobsAPI } from './jobsApi';
import { ParameterForm } from './params';
import { ScheduleField } from './schedule';
import { labSelect } from './ui';

const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$/;

/** 'reports/Daily sales (v2).ipynb' -> 'Daily sales v2' */
export function defaultJobName(path: string): string {
  const base = PathExt.basename(path).replace(/\.ipynb$/i, '');
  const name = base
    .replace(/[^A-Za-z0-9 ._-]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 80)
    .trim();
  return name || 'job';
}

/** A number typed in a field, null when empty; throws a message when it is not a number. */
function numberOf(input: HTMLInputElement, what: string): number | null {
  const text = input.value.trim();
  if (text === '') {
    return null;
  }
  const n = Number(text);
  if (!isFinite(n)) {
    throw new Error(`${what} must be a number, got '${text}'`);
  }
  return n;
}

/** Tier and environment choice, with availability and reasons as the spawn form shows them. */
class TierField {
  constructor(tiers: ITierOption[], loadError: string) {
    this.tiers = tiers;
    this.tierSelect = el('select', { className: 'jp-HybridJobs-tier' });
    this.envSelect = el('select', { className: 'jp-HybridJobs-environment' });
    for (const t of tiers) {
      const option = el('option', {
        value: t.name,
        textContent: t.available
          ? t.display_name
          : `${t.display_name} (unavailable)`,
        disabled: !t.available
      });
      option.title = t.reasons.join('\n');
      this.tierSelect.append(option);
    }
    const first =
      tiers.find(t => t.default && t.available) ?? tiers.find(t => t.available);
    if (first) {
      this.tierSelect.value = first.name;
    }
    this.tier = new Field(
      'Hardware tier',
      labSelect(this.tierSelect, 'jp-HybridJobs-tierSelect'),
      '',
      'tier'
    );
    this.why = el('ul', { className: 'jp-HybridJobs-reasons' });
    this.tier.node.insertBefore(this.why, this.tier.error);
    this.environment = new Field(
      'Environment',
      labSelect(this.envSelect, 'jp-HybridJobs-envSelect'),
      '',
      'environment'
    );
    if (loadError) {
      this.tier.setError(loadError);
    } else if (tiers.length === 0) {
      this.tier.setError('No hardware tier is offered to you.');
    }
    this.tierSelect.onchange = () => this.update();
    this.update();
  }

  private update(): void {
    const t = this.tiers.find(x => x.name === this.tierSelect.value);
    this.why.textContent = '';
    this.envSelect.textContent = '';
    // every tier with its state, as the spawn form lists them: unavailable ones say why
    for (const other of this.tiers) {
      if (other.available && other !== t) {
        continue;
      }
      const text = other.available
        ? other.reasons.join('; ') ||
          (other.site ? `Would run on ${other.site}.` : '')
        : `${other.display_name}: Unavailable: ${other.reasons.join('; ') || 'no site can take it now'}`;
      if (text) {
        this.why.append(
          el('li', {
            className: other.available
              ? 'jp-HybridJobs-where'
              : 'jp-HybridJobs-why',
            textContent: text
          })
        );
      }
    }
    if (t?.description) {
      this.tier.hint.textContent = t.description;
    }
    for (const e of t?.environments ?? []) {
      this.envSelect.append(
        el('option', { value: e.name, textContent: e.display_name })
      );
    }
    const env = t?.environments.find(e => e.default) ?? t?.environments[0];
    if (env) {
      this.envSelect.value = env.name;
    }
  }

  get value(): { tier: string | null; environment: string | null } {
    return {
      tier: this.tierSelect.value || null,
      environment: this.envSelect.value || null
    };
  }

  private tiers: ITierOption[];
  readonly tierSelect: HTMLSelectElement;
  readonly envSelect: HTMLSelectElement;
  readonly tier: Field;
  readonly environment: Field;
  private why: HTMLUListElement;
}

/** The body of the "Publish as job" dialog. */
class PublishBody extends Widget {
  constructor(
    readonly api: JobsAPI,
    readonly path: string,
    tiers: ITierOption[],
    tiersError: string,
    readonly params: ParameterForm
  ) {
    super();
    this.addClass('jp-HybridJobs-publish');
    this.name = new Field('Name', textInput(defaultJobName(path)), '', 'name');
    this.schedule = new ScheduleField(api);
    this.tiers = new TierField(tiers, tiersError);
    this.timeout = textInput('', { placeholder: 'no limit' });
    this.attempts = textInput('0');
    this.backoff = textInput('30');
    this.concurrency = textInput('1');
    this.misfire = el('select', { className: 'jp-HybridJobs-misfire' });
    this.misfire.append(
      el('option', {
        value: 'once',
        textContent: 'once: runs missed while down fire once'
      }),
      el('option', {
        value: 'skip',
        textContent: 'skip: runs missed while down are skipped'
      })
    );
    this.webhook = textInput('', {
      placeholder: 'https://hooks.example.com/jobs'
    });
    this.onSuccess = el('input', { type: 'checkbox' });
    const fields: [string, Field][] = [
      [
        'timeout',
        new Field(
          'Timeout (seconds)',
          this.timeout,
          'Whole run, all cells',
          'timeout'
        )
      ],
      [
        'retry',
        new Field(
          'Retries',
          this.attempts,
          'Retries after a failed or interrupted run',
          'retry'
        )
      ],
      [
        'backoff',
        new Field(
          'Backoff (seconds)',
          this.backoff,
          'Wait before the first retry, doubled each time',
          'backoff'
        )
      ],
      [
        'concurrency',
        new Field(
          'Concurrency',
          this.concurrency,
          'Runs of this job at once',
          'concurrency'
        )
      ],
      [
        'misfire',
        new Field(
          'Misfire policy',
          labSelect(this.misfire, 'jp-HybridJobs-misfireSelect'),
          '',
          'misfire'
        )
      ],
      [
        'webhook',
        new Field(
          'Failure webhook',
          this.webhook,
          'POSTed a JSON payload when a run fails',
          'webhook'
        )
      ]
    ];
    this.fields = new Map(fields);
    this.fields.set('name', this.name);
    this.fields.set('schedule', this.schedule.field);
    this.fields.set('tier', this.tiers.tier);
    this.fields.set('environment', this.tiers.environment);
    const webhook = this.fields.get('webhook') as Field;
    webhook.node.insertBefore(
      el(
        'label',
        { className: 'jp-HybridJobs-check' },
        this.onSuccess,
        'Notify on success too'
      ),
      webhook.error
    );
    this.general = el('div', {
      className: 'jp-HybridJobs-fieldError jp-HybridJobs-general'
    });
    const section = (title: string, ...nodes: Node[]) =>
      el(
        'fieldset',
        {
          className: `jp-HybridJobs-section jp-HybridJobs-${title.toLowerCase()}`
        },
        el('legend', { textContent: title }),
        ...nodes
      );
    this.node.append(
      el('div', { className: 'jp-HybridJobs-notebook', textContent: path }),
      this.name.node,
      this.schedule.field.node,
      section('Hardware', this.tiers.tier.node, this.tiers.environment.node),
      section('Parameters', params.node),
      section('Policies', ...fields.map(([, f]) => f.node)),
      this.general
    );
  }

  /** The JobSpec to POST, or null (the fields to fix are marked). */
  spec(): Record<string, unknown> | null {
    this.clearErrors();
    let ok = true;
    const name = (this.name.control as HTMLInputElement).value.trim();
    if (!JOB_NAME.test(name)) {
      this.name.setError(
        'Use 1 to 80 letters, digits, spaces, ".", "_" or "-", starting with a letter or digit.'
      );
      ok = false;
    }
    const parameters = this.params.values();
    ok = ok && parameters !== null;
    const numbers: Record<string, number | null> = {};
    const read: [string, HTMLInputElement, string][] = [
      ['timeout', this.timeout, 'The timeout'],
      ['retry', this.attempts, 'Retries'],
      ['backoff', this.backoff, 'The backoff'],
      ['concurrency', this.concurrency, 'Concurrency']
    ];
    for (const [key, input, what] of read) {
      try {
        numbers[key] = numberOf(input, what);
      } catch (error) {
        this.fields.get(key)?.setError((error as Error).message);
        ok = false;
      }
    }
    if (!ok) {
      this.showFirstError();
      return null;
    }
    const retry: Record<string, number> = { attempts: numbers.retry ?? 0 };
    if (numbers.backoff !== null) {
      retry.backoff = numbers.backoff;
    }
    return {
      name,
      notebook: this.path,
      ...this.schedule.value,
      ...this.tiers.value,
      parameters,
      timeout: numbers.timeout,
      retry,
      concurrency: numbers.concurrency ?? 1,
      misfire: this.misfire.value,
      webhook: this.webhook.value.trim() || null,
      notify_on: this.onSuccess.checked ? ['failure', 'success'] : ['failure']
    };
  }

  clearErrors(): void {
    this.fields.forEach(f => f.setError(''));
    this.params.clearErrors();
    this.general.textContent = '';
  }

  /** A 400's message, each part under the field it names ("schedule: ...; timeout: ..."). */
  showError(status: number, message: string): void {
    const rest: string[] = [];
    for (const part of message.split(/;\s+(?=[a-z_.]+: |parameter )/)) {
      const m = /^([a-z_]+)(?:\.[a-z_]+)*: /.exec(part);
      const key = m?.[1] === 'timezone' ? 'schedule' : m?.[1];
      const field = key ? this.fields.get(key) : undefined;
      if (field) {
        field.setError(part.slice(m![0].length));
      } else if (status === 409) {
        this.name.setError(part);
      } else if (this.params.showError(part)) {
        continue;
      } else if (/\btier\b/i.test(part)) {
        this.tiers.tier.setError(part);
      } else if (/\benvironment\b/i.test(part)) {
        this.tiers.environment.setError(part);
      } else {
        rest.push(part);
      }
    }
    this.general.textContent = rest.join('; ');
    this.showFirstError();
  }

  /** Scroll the first field to fix into view. */
  showFirstError(): void {
    const first = this.node.querySelector(
      '.jp-HybridJobs-fieldError:not(:empty)'
    );
    first?.parentElement?.scrollIntoView({ block: 'nearest' });
  }

  readonly name: Field;
  readonly schedule: ScheduleField;
  readonly tiers: TierField;
  private timeout: HTMLInputElement;
  private attempts: HTMLInputElement;
  private backoff: HTMLInputElement;
  private concurrency: HTMLInputElement;
  private misfire: HTMLSelectElement;
  private webhook: HTMLInputElement;
  private onSuccess: HTMLInputElement;
  private fields: Map<string, Field>;
  private general: HTMLDivElement;
}

/**
 * "Publish as job": read the notebook's parameters and the tiers on offer, show the dialog,
 * POST the job. Resolves the created job, or null when cancelled. Errors stay in the dialog.
 */
export async function publishNotebook(
  api: JobsAPI,
  path: string
): Promise<IJob | null> {
  let declared;
  try {
    declared = await api.inspect(path);
  } catch (error) {
    await showErrorMessage(
      'Cannot publish this notebook',
      `${path}: ${(error as Error).message}`
    );
    return null;
  }
  let tiers: ITierOption[] = [];
  let tiersError = '';
  try {
    tiers = await api.options();
  } catch (error) {
    tiersError = `Could not read the tiers on offer: ${(error as Error).message}`;
  }
  const body = new PublishBody(
    api,
    path,
    tiers,
    tiersError,
    new ParameterForm(declared)
  );
  let job: IJob | null = null;
  const accepted = await showSubmitDialog({
    title: 'Publish notebook as job',
    body,
    accept: 'Publish',
    submit: async () => {
      const spec = body.spec();
      if (spec === null) {
        return false;
      }
      try {
        job = await api.create(spec);
        return true;
      } catch (error) {
        const status = (error as any).response?.status ?? 0;
        body.showError(status, (error as Error).message);
        return false;
      }
    }
  });
  if (accepted && job) {
    const j = job as IJob;
    Notification.success(`Published '${j.name}': ${j.schedule_text}`, {
      autoClose: 5000
    });
  }
  return accepted ? job : null;
}
