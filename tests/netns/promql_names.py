#!/usr/bin/env python3
"""Every metric named by the Grafana dashboard and the Prometheus alert rules
is one the daemon exports (or one Prometheus makes for each scrape).

  promql_names.py SCRAPE DASHBOARD.json RULES.yml

SCRAPE is a real answer of GET /metrics. The dashboard must load as JSON; the
expressions are its targets' expr and its query variables; the rules' are
every rule's expr (the YAML is read with a small line parser: the file's own
layout, `expr:` keys with an inline value or a `|` block)."""
import json
import re
import sys

# Series that Prometheus writes itself for every scrape target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
            "bool", "and", "or", "unless", "inf", "nan", "atan2"}


def exported(path):
    names = set()
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def metric_names(expr):
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, "$instance")
    s = re.sub(r"\{[^}]*\}", "", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)  # ranges
    # label lists of by/without/on/ignoring/group_*
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)  # dashboard variables
    names = []
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        rest = s[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function or aggregation
        if m.group(0).lower() in KEYWORDS:
            continue
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue  # 1e3, 5m
        names.append(m.group(0))
    return names


def dashboard_exprs(path):
    dash = json.load(open(path))
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"panel {p.get('title')!r}", t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q)
            out.append((f"variable {v['name']}", m.group(1) if m else q))
    return out


def rules_exprs(path):
    out = []
    lines = open(path).read().split("\n")
    alert = "?"
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- (alert|record): (\S+)", line)
        if m:
            alert = m.group(2)
        m = re.match(r"(\s*)expr: (.*)$", line)
        if m:
            indent, val = len(m.group(1)), m.group(2).strip()
            if val in ("|", ">", "|-", ">-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i])
                    i += 1
                out.append((f"rule {alert}", "\n".join(block)))
                continue
            out.append((f"rule {alert}", val))
        i += 1
    return out


def main():
    have = exported(sys.argv[1])
    bad = 0
    exprs = dashboard_exprs(sys.argv[2]) + rules_exprs(sys.argv[3])
    used = set()
    for where, expr in exprs:
        names = metric_names(expr)
        if not names:
            print(f"FAIL: {where}: no metric found in {expr!r}")
            bad += 1
        for n in names:
            used.add(n)
            if n not in have and n not in SCRAPE_SERIES:
                print(f"FAIL: {where}: {n} is not exported by the daemon")
                bad += 1
    print(f"{len(exprs)} expressions, {len(used)} metrics named, "
          f"{len(have)} exported; not shown: {' '.join(sorted(have - used)) or '-'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
