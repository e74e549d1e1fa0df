import { el, Field, textInput } from './dom';
import { JobsAPI } from './jobsApi';

/** The browser's IANA time zone, else UTC. */
function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch (error) {
    return 'UTC';
  }
}

function zones(): string[] {
  const intl = Intl as any;
  try {
    return typeof intl.supportedValuesOf === 'function'
      ? intl.supportedValuesOf('timeZone')
      : [];
  } catch (error) {
    return [];
  }
}

let datalistCount = 0;

/**
 * Schedule: "once, now" or cron in a time zone. The schedule in words is the server's
 * (GET publish/schedule, once it answers: without it the words appear in the Jobs panel once
 * published); the server's error is shown under the field.
 */
export class ScheduleField {
  constructor(private api: JobsAPI) {
    const group = `jp-HybridJobs-when-${++datalistCount}`;
    this.once = el('input', { type: 'radio', name: group, checked: true });
    this.repeat = el('input', { type: 'radio', name: group });
    this.once.dataset.choice = 'once';
    this.repeat.dataset.choice = 'cron';
    this.cron = textInput('0 6 * * 1-5', {
      className: 'jp-mod-styled jp-HybridJobs-input jp-HybridJobs-cron',
      placeholder: 'minute hour day month weekday',
      spellcheck: false
    });
    const listId = `jp-HybridJobs-zones-${datalistCount}`;
    const list = el('datalist', { id: listId });
    for (const z of zones()) {
      list.append(el('option', { value: z }));
    }
    this.tz = textInput(browserZone(), {
      className: 'jp-mod-styled jp-HybridJobs-input jp-HybridJobs-tz',
      placeholder: 'Europe/Paris',
      spellcheck: false
    });
    this.tz.setAttribute('list', listId);
    this.words = el('div', { className: 'jp-HybridJobs-words' });
    this.cronRow = el(
      'div',
      { className: 'jp-HybridJobs-cronRow' },
      this.cron,
      this.tz,
      list
    );
    const control = el(
      'div',
      { className: 'jp-HybridJobs-schedule' },
      el('label', { className: 'jp-HybridJobs-check' }, this.once, 'Once, now'),
      el(
        'label',
        { className: 'jp-HybridJobs-check' },
        this.repeat,
        'On a schedule (cron, in a time zone)'
      ),
      this.cronRow,
      this.words
    );
    this.field = new Field(
      'Schedule',
      control,
      'Five fields: minute hour day-of-month month weekday, or @daily, @hourly…',
      'schedule'
    );
    const changed = () => this.changed();
    this.once.onchange = changed;
    this.repeat.onchange = changed;
    this.cron.oninput = changed;
    this.tz.oninput = changed;
    this.changed();
  }

  get value(): { schedule: string; timezone: string } {
    return {
      schedule: this.once.checked ? 'once' : this.cron.value.trim(),
      timezone: this.tz.value.trim() || 'UTC'
    };
  }

  private changed(): void {
    const cron = this.repeat.checked;
    this.cronRow.hidden = !cron;
    this.field.hint.hidden = !cron;
    this.field.setError('');
    if (!cron) {
      this.words.textContent = 'Runs once, as soon as it is published.';
      return;
    }
    this.words.textContent = '';
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.describe(), 300);
  }

  /** Ask the server for the schedule in words (and its error, if it refuses it). */
  private async describe(): Promise<void> {
    if (this.noPreview) {
      return;
    }
    const { schedule, timezone } = this.value;
    const asked = `${schedule}\n${timezone}`;
    try {
      const text = await this.api.describe(schedule, timezone);
      if (asked === `${this.value.schedule}\n${this.value.timezone}`) {
        this.words.textContent = text;
      }
    } catch (error) {
      const status = (error as any).response?.status;
      if (status === 404 || status === 405) {
        this.noPreview = true; // this server cannot describe a schedule before it is published
      } else if (asked === `${this.value.schedule}\n${this.value.timezone}`) {
        this.field.setError((error as Error).message);
      }
    }
  }

  readonly field: Field;
  private once: HTMLInputElement;
  private repeat: HTMLInputElement;
  private cron: HTMLInputElement;
  private tz: HTMLInputElement;
  private words: HTMLDivElement;
  private cronRow: HTMLDivElement;
  private timer = 0;
  private noPreview = false;
}
