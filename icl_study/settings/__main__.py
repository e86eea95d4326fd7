"""`python -m icl_study.settings --markdown > docs/config.md`: the config reference page;
`--json`: the JSON schema Snakemake validates the config against. Both generated from the settings
dataclasses (icl_study/settings/schema.py)."""

import json
import sys

from icl_study.settings import SECTIONS
from icl_study.settings.schema import config_schema, markdown


def main(argv: list[str]) -> None:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown(SECTIONS))
    elif argv == ["--json"]:
        sys.stdout.write(json.dumps(config_schema(SECTIONS), indent=1) + "\n")
    else:
        raise SystemExit("usage: python -m icl_study.settings --markdown | --json")


main(sys.argv[1:])
