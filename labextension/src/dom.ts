/** Small DOM helpers shared by the jobs views. */

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** A labelled field: the label, the control, a hint line and a line for the server's error. */
export class Field {
  constructor(
    label: string,
    readonly control: HTMLElement,
    hint = '',
    readonly name = ''
  ) {
    this.hint = el('div', {
      className: 'jp-HybridJobs-hint',
      textContent: hint
    });
    this.error = el('div', { className: 'jp-HybridJobs-fieldError' });
    this.node = el(
      'div',
      { className: 'jp-HybridJobs-field' },
      el('label', { className: 'jp-HybridJobs-label', textContent: label }),
      control,
      this.hint,
      this.error
    );
    if (name) {
      this.node.dataset.field = name;
    }
  }

  setError(message: string): void {
    this.error.textContent = message;
    this.node.classList.toggle('jp-HybridJobs-invalid', !!message);
  }

  readonly node: HTMLDivElement;
  readonly hint: HTMLDivElement;
  readonly error: HTMLDivElement;
}

/** A styled text (or number) input of JupyterLab's look. */
export function textInput(
  value = '',
  props: Partial<HTMLInputElement> = {}
): HTMLInputElement {
  return el('input', {
    type: 'text',
    className: 'jp-mod-styled jp-HybridJobs-input',
    value,
    ...props
  });
}
