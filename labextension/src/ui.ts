import { LabIcon, Styling } from '@jupyterlab/ui-components';

/**
 * A button with JupyterLab's own look: the markup of ui-components' ToolbarButton (icon + label,
 * minimal) or of a dialog button (styled), so it follows the light and dark themes.
 */
export function labButton(options: {
  label?: string;
  icon?: LabIcon;
  title?: string;
  className?: string;
  kind?: 'toolbar' | 'accept' | 'reject' | 'warn' | 'plain';
  onClick: () => void;
}): HTMLButtonElement {
  const button = document.createElement('button');
  const kind = options.kind ?? 'toolbar';
  button.className =
    kind === 'toolbar'
      ? 'jp-Button jp-ToolbarButtonComponent jp-mod-minimal'
      : `jp-Button jp-mod-styled${kind === 'plain' ? '' : ` jp-mod-${kind}`}`;
  if (options.className) {
    button.classList.add(...options.className.split(' '));
  }
  if (options.icon) {
    button.append(
      options.icon.element({
        tag: 'span',
        className: 'jp-ToolbarButtonComponent-icon',
        elementPosition: 'center'
      })
    );
  }
  if (options.label) {
    const label = document.createElement('span');
    label.className = 'jp-ToolbarButtonComponent-label';
    label.textContent = options.label;
    button.append(label);
  }
  if (options.title) {
    button.title = options.title;
    button.setAttribute('aria-label', options.title);
  }
  button.onclick = options.onClick;
  return button;
}

/** A native select in ui-components' HTMLSelect wrapper (themed box and caret). */
export function labSelect(
  select: HTMLSelectElement,
  className: string
): HTMLElement {
  select.classList.add(className);
  const wrapper = Styling.wrapSelect(select);
  wrapper.classList.add('jp-HybridSelect');
  return wrapper;
}
