"""Environment snapshots: capture what a kernel runs with, diff, export ``binder/``, restore.

Modules: ``probe`` (runs inside the captured interpreter), ``model``, ``capture``, ``diff``,
``export``, ``restore``, ``localstore`` and ``cli``; errors in ``errors``.
"""
