import { addIcon, closeIcon } from '@jupyterlab/ui-components';

import { el, Field, textInput } from './dom';
import { IDeclared, IDeclaredParameter } from './jobsApi';
import { labButton, labSelect } from './ui';

/** What the dialog says of a notebook without a `parameters` cell. */
export const NO_CELL_NOTE =
  'This notebook has no cell tagged parameters: any name you add is injected at the top';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function typeText(p: IDeclaredParameter): string {
  return p.optional && p.type !== 'any' ? `${p.type} or None` : p.type;
}

function shown(value: unknown): string {
  if (value === undefined) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A default as the parameters cell wrote it: True, False, None, 0.5, 'text'. */
function pythonic(value: unknown): string {
  if (value === true || value === false) {
    return value ? 'True' : 'False';
  }
  if (value === null) {
    return 'None';
  }
  return shown(value);
}

/** Text typed for an untyped value: JSON when it reads as JSON, else the text itself. */
function loose(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    return text;
  }
}

/** One declared parameter: an input of its type. An empty input keeps the notebook's default. */
class TypedInput {
  constructor(
    readonly param: IDeclaredParameter,
    value: unknown
  ) {
    const p = param;
    const initial = value === undefined ? '' : shown(value);
    if (p.type === 'bool') {
      const select = el('select', { className: 'jp-HybridJobs-paramInput' });
      const choices: [string, string][] = [
        ['', `default (${p.default === true ? 'True' : 'False'})`],
        ['true', 'True'],
        ['false', 'False']
      ];
      if (p.optional) {
        choices.push(['null', 'None']);
      }
      for (const [v, label] of choices) {
        select.append(el('option', { value: v, textContent: label }));
      }
      select.value = value === undefined ? '' : JSON.stringify(value);
      this.input = select;
      this.control = labSelect(select, 'jp-HybridJobs-paramSelect');
    } else {
      const numeric = p.type === 'int' || p.type === 'float';
      this.input = textInput(initial, {
        className: 'jp-mod-styled jp-HybridJobs-input jp-HybridJobs-paramInput',
        placeholder: shown(p.default),
        spellcheck: false
      });
      if (numeric) {
        this.input.inputMode = p.type === 'int' ? 'numeric' : 'decimal';
      }
      this.control = this.input;
    }
    this.input.dataset.param = p.name;
    const hint = [`${typeText(p)}, default ${pythonic(p.default) || '""'}`];
    if (p.help) {
      hint.push(p.help);
    }
    this.field = new Field(p.name, this.control, hint.join(' — '), p.name);
    this.field.node.classList.add('jp-HybridJobs-param');
    this.field.node.dataset.type = p.type;
  }

  /** [set, value]: set is false when the default stands; throws a message on bad input. */
  read(): [boolean, unknown] {
    const p = this.param;
    const text = this.input.value.trim();
    if (text === '') {
      return [false, undefined];
    }
    if (p.optional && (text === 'None' || text === 'null')) {
      return [true, null];
    }
    switch (p.type) {
      case 'bool':
        return [true, JSON.parse(text)];
      case 'int':
        if (!/^[-+]?\d+$/.test(text)) {
          throw new Error(`${p.name} expects a whole number, e.g. 3`);
        }
        return [true, parseInt(text, 10)];
      case 'float': {
        const n = Number(text);
        if (!isFinite(n)) {
          throw new Error(`${p.name} expects a number, e.g. 0.5`);
        }
        return [true, n];
      }
      case 'str':
        return [true, this.input.value];
      case 'list':
      case 'dict': {
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch (error) {
          throw new Error(
            `${p.name} expects a JSON ${p.type}, e.g. ${p.type === 'list' ? '[1, 2]' : '{"a": 1}'}`
          );
        }
        return [true, v];
      }
      default:
        return [true, loose(text)];
    }
  }

  readonly input: HTMLInputElement | HTMLSelectElement;
  readonly control: HTMLElement;
  readonly field: Field;
}

/** A name + value row for a notebook without a parameters cell. */
class FreeRow {
  constructor(name: string, value: unknown, onRemove: (row: FreeRow) => void) {
    this.name = textInput(name, {
      placeholder: 'name',
      className: 'jp-mod-styled jp-HybridJobs-input jp-HybridJobs-freeName',
      spellcheck: false
    });
    this.value = textInput(value === undefined ? '' : shown(value), {
      placeholder: 'value (JSON or text)',
      className: 'jp-mod-styled jp-HybridJobs-input jp-HybridJobs-freeValue',
      spellcheck: false
    });
    this.error = el('div', { className: 'jp-HybridJobs-fieldError' });
    this.node = el(
      'div',
      { className: 'jp-HybridJobs-freeRow' },
      el(
        'div',
        { className: 'jp-HybridJobs-freeInputs' },
        this.name,
        this.value,
        labButton({
          icon: closeIcon,
          title: 'Remove this parameter',
          onClick: () => onRemove(this)
        })
      ),
      this.error
    );
  }

  readonly node: HTMLDivElement;
  readonly name: HTMLInputElement;
  readonly value: HTMLInputElement;
  readonly error: HTMLDivElement;
}

/**
 * The parameters part of the publish and "Run now" dialogs: one typed input per declared
 * parameter (type, default and help shown), or free name/value rows when the notebook has no
 * cell tagged `parameters`.
 */
export class ParameterForm {
  constructor(declared: IDeclared, values: Record<string, unknown> = {}) {
    this.node = el('div', { className: 'jp-HybridJobs-params' });
    this.hasCell = declared.has_cell;
    if (declared.has_cell) {
      if (declared.parameters.length === 0) {
        this.node.append(
          el('p', {
            className: 'jp-HybridJobs-hint',
            textContent: 'The parameters cell declares no names.'
          })
        );
      }
      for (const p of declared.parameters) {
        const input = new TypedInput(p, values[p.name]);
        this.typed.push(input);
        this.node.append(input.field.node);
      }
    } else {
      this.freeList = el('div', { className: 'jp-HybridJobs-freeList' });
      this.node.append(
        el('p', {
          className: 'jp-HybridJobs-note jp-HybridJobs-noCell',
          textContent: NO_CELL_NOTE
        }),
        this.freeList,
        labButton({
          icon: addIcon,
          label: 'Add parameter',
          title: 'Add a parameter (injected at the top of the notebook)',
          onClick: () => this.addRow('', undefined)
        })
      );
      for (const [k, v] of Object.entries(values)) {
        this.addRow(k, v);
      }
    }
    this.error = el('div', { className: 'jp-HybridJobs-fieldError' });
    this.node.append(this.error);
  }

  private addRow(name: string, value: unknown): void {
    const row = new FreeRow(name, value, r => {
      r.node.remove();
      this.free = this.free.filter(x => x !== r);
    });
    this.free.push(row);
    this.freeList?.append(row.node);
    if (!name) {
      row.name.focus();
    }
  }

  /** The values set (defaults left out), or null after marking what to fix. */
  values(): Record<string, unknown> | null {
    this.clearErrors();
    const out: Record<string, unknown> = {};
    let ok = true;
    for (const t of this.typed) {
      try {
        const [set, v] = t.read();
        if (set) {
          out[t.param.name] = v;
        }
      } catch (error) {
        t.field.setError((error as Error).message);
        ok = false;
      }
    }
    for (const row of this.free) {
      const name = row.name.value.trim();
      if (!name && !row.value.value.trim()) {
        continue;
      }
      if (!IDENTIFIER.test(name)) {
        row.error.textContent = `'${name}' is not a Python identifier (letters, digits, _; not starting with a digit)`;
        ok = false;
        continue;
      }
      out[name] = loose(row.value.value.trim());
    }
    return ok ? out : null;
  }

  clearErrors(): void {
    this.typed.forEach(t => t.field.setError(''));
    this.free.forEach(r => (r.error.textContent = ''));
    this.error.textContent = '';
  }

  /** Put a server message under the parameter it names; true if one matched. */
  showError(message: string): boolean {
    const named = /parameter '([^']+)'/.exec(message);
    const name = named?.[1];
    const typed = this.typed.find(t => t.param.name === name);
    if (typed) {
      typed.field.setError(message);
      return true;
    }
    const row = this.free.find(r => r.name.value.trim() === name);
    if (row) {
      row.error.textContent = message;
      return true;
    }
    if (/^parameter|parameters/.test(message)) {
      this.error.textContent = message;
      return true;
    }
    return false;
  }

  readonly node: HTMLDivElement;
  readonly hasCell: boolean;
  private typed: TypedInput[] = [];
  private free: FreeRow[] = [];
  private freeList: HTMLDivElement | null = null;
  private error: HTMLDivElement;
}
