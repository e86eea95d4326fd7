"""Entry point for `python -m icl_study <command>`."""

from icl_study.cli import main

if __name__ == "__main__":
    main()
