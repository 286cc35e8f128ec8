#!/bin/sh
# The Prometheus alert rules pass `promtool check rules` and their unit tests
# over recorded series (`promtool test rules`); the Grafana dashboard loads as
# JSON. (tests/netns/ops_names.sh checks both against a live daemon's metrics.)
#   alerts_check.sh SOURCE_DIR
set -u
src=$1
command -v promtool >/dev/null || { echo "SKIP: no promtool (tests/deps.sh)"; exit 77; }
cd "$src/conf/prometheus" || exit 1
promtool check rules synguard-alerts.yml || { echo "FAIL: promtool check rules"; exit 1; }
promtool test rules synguard-alerts.test.yml || { echo "FAIL: promtool test rules"; exit 1; }
if command -v python3 >/dev/null; then
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["panels"], "no panels"' \
		"$src/conf/grafana/synguard.json" || { echo "FAIL: the dashboard does not load"; exit 1; }
	echo "ok: conf/grafana/synguard.json loads"
fi
echo "PASS: alert rules and dashboard"
