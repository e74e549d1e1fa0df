"""jupyter-server extension: thin HTTP handlers over the capability rooms."""
