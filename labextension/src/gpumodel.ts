import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { requestAPI } from './request';

/** One entry of GET /jupyter-hybrid/gpu "gpus": a GPU or a MIG instance. */
export interface IGpu {
  id: string;
  uuid: string;
  name: string;
  mig: boolean;
  parent: string | null;
  time: number;
  utilization: number | null;
  memory_used: number | null;
  memory_total: number | null;
  temperature: number | null;
  power: number | null;
  power_limit: number | null;
}

/** A GPU process mapped to this server's kernel and notebook, or "other process". */
export interface IGpuProcess {
  gpu: string;
  pid: number;
  used_memory: number | null;
  kind: 'kernel' | 'other';
  kernel_id: string | null;
  kernel_name: string | null;
  path: string | null;
  label: string;
  visible: boolean;
}

export interface INotice {
  id: string;
  message: string;
  level: 'info' | 'warning';
  source: string;
  time: number;
  expires: number;
}

/** [times (epoch s), values] per metric, per GPU id. */
export type Series = Record<string, [number[], number[]]>;

export const METRICS = [
  'utilization',
  'memory_used',
  'temperature',
  'power'
] as const;

export interface IGpuState {
  available: boolean;
  reason: string | null;
  interval: number;
  history_seconds: number;
  gpus: IGpu[];
  processes: IGpuProcess[];
  notices: INotice[];
  history?: Record<string, Record<string, [number, number][]>>;
}

/** Intervals from the settings (schema/gpu.json), in seconds. */
export interface IGpuIntervals {
  pollSeconds: number;
  reconnectSeconds: number;
}

/**
 * The GPU state of this server, shared by the panel and the status-bar item.
 *
 * Streams over the WebSocket while the panel is shown (full-resolution series); otherwise polls the
 * REST endpoint slowly for the status bar only, so a hidden panel costs next to nothing.
 */
export class GpuModel {
  constructor(
    private settings: ServerConnection.ISettings,
    intervals: IGpuIntervals
  ) {
    this.intervals = intervals;
  }

  /** The intervals in use; changing them restarts the polling. */
  get intervals(): IGpuIntervals {
    return this._intervals;
  }

  set intervals(value: IGpuIntervals) {
    this._intervals = { ...value };
    if (this.poller !== undefined) {
      this.stopPolling();
      this.startPolling();
    }
    this.emit();
  }

  /** The unexpired notices. */
  get notices(): INotice[] {
    const now = Date.now() / 1000;
    return (this.state?.notices ?? []).filter(n => n.expires > now);
  }

  /** Dismiss one notice (by id) or all of them, on the server: every open panel drops them. */
  async dismiss(id?: string): Promise<void> {
    try {
      const { dismissed } = await requestAPI<{ dismissed: string[] }>(
        this.settings,
        id ? `gpu/notices/${id}` : 'gpu/notices',
        { method: 'DELETE' }
      );
      this.drop(id ? [id, ...dismissed] : dismissed);
    } catch (error) {
      if (id && (error as any)?.response?.status === 404) {
        this.drop([id]); // expired or dismissed elsewhere meanwhile
        return;
      }
      this.error = `Could not dismiss: ${(error as Error).message}`;
      this.emit();
    }
  }

  private drop(ids: string[]): void {
    if (this.state) {
      this.state.notices = this.state.notices.filter(n => !ids.includes(n.id));
    }
    this.emit();
  }

  /** Read the state now (the "Refresh" command). */
  refresh(): Promise<void> {
    return this.fetch();
  }

  state: IGpuState | null = null;
  series: Record<string, Series> = {};
  error: string | null = null;

  /** Called after each change; returns a function that removes the listener. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Live stream with history (panel shown) or slow polling (panel hidden). */
  setLive(live: boolean): void {
    this.live = live;
    if (live) {
      this.stopPolling();
      this.connect();
    } else {
      this.disconnect();
      this.startPolling();
    }
  }

  dispose(): void {
    this.disconnect();
    this.stopPolling();
    this.listeners.clear();
  }

  /** The GPU with the highest utilisation (then memory in use), for the status bar. */
  busiest(): IGpu | null {
    const gpus = this.state?.gpus ?? [];
    let best: IGpu | null = null;
    const score = (g: IGpu) => [
      g.utilization ?? -1,
      (g.memory_used ?? 0) / (g.memory_total || 1)
    ];
    for (const g of gpus) {
      if (best === null) {
        best = g;
        continue;
      }
      const [a1, a2] = score(g);
      const [b1, b2] = score(best);
      if (a1 > b1 || (a1 === b1 && a2 > b2)) {
        best = g;
      }
    }
    return best;
  }

  private emit(): void {
    for (const listener of this.listeners) {
      listener();
    }
  }

  private connect(): void {
    if (this.socket) {
      return;
    }
    const since = this.lastTime();
    let url = URLExt.join(this.settings.wsUrl, 'jupyter-hybrid/gpu/stream');
    const params: string[] = [`since=${since}`];
    if (this.settings.token && this.settings.appendToken) {
      params.push(`token=${encodeURIComponent(this.settings.token)}`);
    }
    url += '?' + params.join('&');
    const socket = new this.settings.WebSocket(url);
    this.socket = socket;
    socket.onmessage = event => this.onMessage(JSON.parse(event.data));
    socket.onclose = () => {
      if (this.socket !== socket) {
        return;
      }
      this.socket = null;
      if (this.live) {
        const wait = this._intervals.reconnectSeconds;
        this.error = `GPU stream closed; reconnecting in ${wait} s…`;
        this.emit();
        this.reconnect = window.setTimeout(() => this.connect(), wait * 1000);
      }
    };
  }

  private disconnect(): void {
    window.clearTimeout(this.reconnect);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }

  private startPolling(): void {
    if (this.poller === undefined) {
      void this.fetch();
      this.poller = window.setInterval(
        () => void this.fetch(),
        this._intervals.pollSeconds * 1000
      );
    }
  }

  private stopPolling(): void {
    window.clearInterval(this.poller);
    this.poller = undefined;
  }

  private async fetch(): Promise<void> {
    try {
      const state = await requestAPI<IGpuState>(this.settings, 'gpu');
      this.state = state;
      this.error = null;
    } catch (error) {
      this.error = `Could not read the GPU state: ${(error as Error).message}`;
    }
    this.emit();
  }

  private lastTime(): number {
    let last = 0;
    for (const series of Object.values(this.series)) {
      for (const [times] of Object.values(series)) {
        if (times.length > 0) {
          last = Math.max(last, times[times.length - 1]);
        }
      }
    }
    return last;
  }

  private onMessage(msg: any): void {
    this.error = null;
    if (msg.type === 'snapshot') {
      const { history, ...state } = msg;
      delete state.type;
      this.state = state as IGpuState;
      this.addSeries(history ?? {});
    } else if (msg.type === 'sample' && this.state) {
      this.state.gpus = msg.gpus;
      this.addSeries(msg.series ?? {});
    } else if (msg.type === 'processes' && this.state) {
      this.state.processes = msg.processes;
    } else if (msg.type === 'notice' && this.state) {
      this.state.notices = [...this.state.notices, msg.notice];
    } else if (msg.type === 'dismissed') {
      this.drop(msg.ids);
      return;
    }
    this.emit();
  }

  private addSeries(
    update: Record<string, Record<string, [number, number][]>>
  ): void {
    const keep = this.state?.history_seconds ?? 900;
    for (const [gpu, metrics] of Object.entries(update)) {
      const series = (this.series[gpu] ??= {});
      for (const [name, points] of Object.entries(metrics)) {
        const [times, values] = (series[name] ??= [[], []]);
        for (const [t, v] of points) {
          if (times.length === 0 || t > times[times.length - 1]) {
            times.push(t);
            values.push(v);
          }
        }
        const horizon = times[times.length - 1] - keep;
        let drop = 0;
        while (drop < times.length && times[drop] < horizon) {
          drop++;
        }
        if (drop > 0) {
          times.splice(0, drop);
          values.splice(0, drop);
        }
      }
    }
  }

  private _intervals!: IGpuIntervals;
  private listeners = new Set<() => void>();
  private socket: WebSocket | null = null;
  private live = false;
  private poller: number | undefined = undefined;
  private reconnect: number | undefined = undefined;
}
