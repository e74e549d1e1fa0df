"""jupyter-hybrid's control plane run as JupyterHub services (e.g. the idle-GPU culler)."""
