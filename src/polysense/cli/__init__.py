"""polysense.cli: the ``polysense`` command; parses arguments and calls the library, holds no logic.

:mod:`.main` builds the app; each ``*_cmds`` module registers one layer's commands (signal, data,
demo, train/evaluate/compare/config, search, enhance, recognize, predict/export, detect); :mod:`.errors`
turns every error into one line; :mod:`.options` holds options several commands share (``--threads``).

Imports of the library sit inside the commands, the one place in the package where they do:
``polysense --help`` then loads no torch (0.25 s instead of about 2 s, ``python -X importtime``).
"""
