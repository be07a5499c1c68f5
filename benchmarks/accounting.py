"""Where a benchmark's time went: CPU seconds per process and the API server's requests by verb.

Wall time on a shared 2-core machine depends on what else runs; CPU seconds per process and
request counts do not, so the benchmark reports them next to the wall-clock figures.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Final

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
_REQUEST: Final = re.compile(r"^apiserver_request_total\{([^}]*)\} (\S+)$")
_LABEL: Final = re.compile(r'(\w+)="([^"]*)"')


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpu_of(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 1) for name in after}


def apiserver_requests(kubectl: list[str]) -> Counter[str]:
    """``apiserver_request_total`` summed per "VERB resource[/subresource]"."""
    text = subprocess.run([*kubectl, "get", "--raw", "/metrics"], check=True, capture_output=True, text=True).stdout
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        found = _REQUEST.match(line)
        if found is None:
            continue
        labels = dict(_LABEL.findall(found.group(1)))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[f"{labels.get('verb', '?')} {resource}"] += int(float(found.group(2)))
    return counts


def request_delta(before: Counter[str], after: Counter[str], minimum: int = 50) -> dict[str, int]:
    """Requests made between the two scrapes, the busy kinds only, most first."""
    delta = after - before
    return {key: count for key, count in delta.most_common() if count >= minimum}
