"""`rasa ...` with the fixes of bench/speedups.py applied: `python -m bench.rasa_speedups run ...`."""
import sys

from bench.speedups import apply

apply()

from rasa.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "rasa"
    main()
