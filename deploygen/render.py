"""How the generated YAML files are written: keys in order, short lists on one line, no anchors."""

from __future__ import annotations

from typing import Any

import yaml

GENERATED = "# Generated from the registry by `make deploy-files` (python -m deploygen): do not edit by hand."


def to_yaml(*documents: Any) -> str:
    """YAML documents as the generated deployment files are written."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, width=120)


class _Dumper(yaml.SafeDumper):
    """Writes short lists (most commands) on one line, and no YAML anchors: every entry reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_list(self, data: list) -> yaml.Node:
        flow = all(isinstance(item, str | int) for item in data) and len(", ".join(map(str, data))) <= 100
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)
