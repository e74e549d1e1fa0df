import { ServerConnection } from '@jupyterlab/services';

import { APIError, requestAPI } from './request';

/** One parameter of a notebook's `parameters` cell, as POST publish/inspect reads it. */
export interface IDeclaredParameter {
  name: string;
  /** int, float, bool, str, list, dict or any */
  type: string;
  /** None is allowed as well */
  optional?: boolean;
  default: unknown;
  help: string;
}

export interface IDeclared {
  parameters: IDeclaredParameter[];
  has_cell: boolean;
  note: string;
}

export interface IRetry {
  attempts: number;
  backoff: number;
  factor: number;
  max_backoff: number;
}

export type RunStatus =
  'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface IJob {
  name: string;
  owner: string;
  notebook: string;
  schedule: string;
  timezone: string;
  schedule_text: string;
  tier: string | null;
  environment: string | null;
  parameters: Record<string, unknown>;
  timeout: number | null;
  retry: IRetry;
  concurrency: number;
  misfire: 'once' | 'skip';
  webhook: string | null;
  notify_on: string[];
  version: number;
  paused: boolean;
  next_run: string | null;
  last_run: { id: number; status: RunStatus; ended_at: string | null } | null;
  declared?: IDeclared;
  versions?: { number: number; created_at: string; snapshot_id: string }[];
}

export interface IRunError {
  cell?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string;
  message?: string;
}

export interface IRun {
  id: number;
  job: string;
  owner: string;
  version: number;
  attempt: number;
  status: RunStatus;
  trigger: string;
  parameters: Record<string, unknown>;
  due_at: string | null;
  queued_at: string | null;
  started_at: string | null;
  ended_at: string | null;
  duration: number | null;
  tier: string | null;
  environment: string | null;
  site: string | null;
  snapshot_id: string | null;
  /** The run's environment differs from the snapshot pinned at publish. */
  drift?: boolean;
  has_output: boolean;
  error: IRunError | null;
  waiting: string | null;
}

export interface ILogEvent {
  kind: string;
  index?: number;
  cells?: number;
  name?: string;
  text?: string;
  status?: string;
}

export interface ILog {
  events: ILogEvent[];
  text: string;
  offset: number;
  done: boolean;
}

/** An environment a tier offers (the server may send a bare name). */
export interface IEnvironmentOption {
  name: string;
  display_name: string;
  default: boolean;
}

/** A tier of GET publish/options, normalised: `reasons` from `reason` or `reasons`. */
export interface ITierOption {
  name: string;
  display_name: string;
  description: string | null;
  default: boolean;
  available: boolean;
  site: string | null;
  reasons: string[];
  environments: IEnvironmentOption[];
}

function tierOption(raw: any): ITierOption {
  const reasons: string[] = Array.isArray(raw.reasons)
    ? raw.reasons.map(String)
    : raw.reason
      ? [String(raw.reason)]
      : [];
  const envs = (raw.environments ?? []).map((e: any) =>
    typeof e === 'string'
      ? { name: e, display_name: e, default: false }
      : {
          name: String(e.name),
          display_name: String(e.display_name ?? e.name),
          default: !!e.default
        }
  );
  return {
    name: String(raw.name),
    display_name: String(raw.display_name ?? raw.name),
    description: raw.description ?? null,
    default: !!raw.default,
    available: raw.available !== false,
    site: raw.site ?? null,
    reasons,
    environments: envs
  };
}

const TERMINAL: RunStatus[] = ['completed', 'failed', 'cancelled'];

export function isFinished(run: IRun): boolean {
  return TERMINAL.includes(run.status);
}

/** The jobs endpoints of this server (/jupyter-hybrid/jobs, runs, publish). */
export class JobsAPI {
  constructor(readonly settings: ServerConnection.ISettings) {}

  private call<T>(path: string, method = 'GET', body?: unknown): Promise<T> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    return requestAPI<T>(this.settings, path, init);
  }

  private static job(name: string): string {
    return `jobs/${encodeURIComponent(name)}`;
  }

  async jobs(): Promise<IJob[]> {
    return (await this.call<{ jobs: IJob[] }>('jobs')).jobs;
  }

  job(name: string): Promise<IJob> {
    return this.call<IJob>(JobsAPI.job(name));
  }

  create(spec: Record<string, unknown>): Promise<IJob> {
    return this.call<IJob>('jobs', 'POST', spec);
  }

  setPaused(name: string, paused: boolean): Promise<IJob> {
    return this.call<IJob>(JobsAPI.job(name), 'PATCH', { paused });
  }

  remove(name: string, runs: 'keep' | 'delete'): Promise<void> {
    return this.call<void>(`${JobsAPI.job(name)}?runs=${runs}`, 'DELETE');
  }

  publishVersion(name: string): Promise<{ version: number }> {
    return this.call(`${JobsAPI.job(name)}/versions`, 'POST', {});
  }

  async runs(name: string): Promise<IRun[]> {
    const path = `${JobsAPI.job(name)}/runs`;
    return (await this.call<{ runs: IRun[] }>(path)).runs;
  }

  runNow(name: string, parameters: Record<string, unknown>): Promise<IRun> {
    return this.call<IRun>(`${JobsAPI.job(name)}/runs`, 'POST', {
      parameters
    });
  }

  run(id: number): Promise<IRun> {
    return this.call<IRun>(`runs/${id}`);
  }

  cancel(id: number): Promise<IRun> {
    return this.call<IRun>(`runs/${id}/cancel`, 'POST', {});
  }

  again(id: number): Promise<IRun> {
    return this.call<IRun>(`runs/${id}/again`, 'POST', {});
  }

  log(id: number, offset: number): Promise<ILog> {
    return this.call<ILog>(`runs/${id}/log?offset=${offset}`);
  }

  outputUrl(id: number, format: 'ipynb' | 'html'): string {
    return `${this.settings.baseUrl}jupyter-hybrid/runs/${id}/output?format=${format}`;
  }

  /** The output notebook (or HTML) of a run; an APIError with the server's message if none. */
  async output(id: number, format: 'ipynb' | 'html'): Promise<Response> {
    const response = await ServerConnection.makeRequest(
      this.outputUrl(id, format),
      {},
      this.settings
    );
    if (!response.ok) {
      const text = await response.text();
      let message = text || response.statusText;
      try {
        message = JSON.parse(text).message ?? message;
      } catch (error) {
        // not JSON: the text is the message
      }
      throw new APIError(response, message, null);
    }
    return response;
  }

  /** The parameters cell of the notebook at `path` (a path under the server's root). */
  inspect(path: string): Promise<IDeclared> {
    return this.call<IDeclared>('publish/inspect', 'POST', { notebook: path });
  }

  /** A schedule in the server's words ('At 06:00, Monday through Friday (Europe/Paris)'). */
  async describe(schedule: string, timezone: string): Promise<string> {
    const q = `schedule=${encodeURIComponent(schedule)}&timezone=${encodeURIComponent(timezone)}`;
    const data = await this.call<any>(`publish/schedule?${q}`);
    return String(data?.schedule_text ?? data?.text ?? '');
  }

  async options(): Promise<ITierOption[]> {
    const data = await this.call<{ tiers: any[] }>('publish/options');
    return (data.tiers ?? []).map(tierOption);
  }
}

/** 'YYYY-MM-DDTHH:MM:SS+00:00' -> the browser's local date and time, short. */
export function localTime(iso: string | null): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  if (isNaN(date.getTime())) {
    return iso;
  }
  return date.toLocaleString(undefined, {
    dateStyle: 'medium',
    timeStyle: 'short'
  });
}

/** 75.2 -> '1 min 15 s' */
export function duration(seconds: number | null): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  }
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) {
    return `${h} h ${m} min`;
  }
  return `${m} min ${s % 60} s`;
}

/** A value as a person reads it in a list: 'alpha=2.0, label="x"'. */
export function parameterText(values: Record<string, unknown>): string {
  return Object.entries(values ?? {})
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
}
