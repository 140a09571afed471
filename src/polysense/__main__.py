"""``python -m polysense`` (what ``torchrun ... -m polysense train CONFIG`` runs)."""

from polysense.cli.main import main

main()
