"""Proof of concept: teach a generator N(0, 1) with the adversarial rule. See `python adversarial.py --help`."""

from gaussgan.cli import run_main
from gaussgan.poc.cli import main

if __name__ == "__main__":
    run_main(lambda argv: main(argv, rule="adversarial"))
