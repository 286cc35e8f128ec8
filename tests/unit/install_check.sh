#!/bin/bash
# `cmake --install` into a scratch DESTDIR puts every file where it belongs:
# binaries, unit, sysusers entry, example configuration, man pages, the
# pass-fd client header and library. The installed daemon accepts the
# installed configuration, the installed unit starts the installed daemon,
# the man pages render without warnings, and a backend compiles and links
# against the installed client API. The Grafana dashboard and the Prometheus
# alert rules go to DATADIR/synguard.
#   install_check.sh BUILD_DIR WORK_DIR SBINDIR BINDIR SYSCONFDIR MANDIR LIBDIR INCLUDEDIR UNITDIR SYSUSERSDIR DATADIR
# (directories as configured, absolute)
set -u
build=$1 work=$2 sbindir=$3 bindir=$4 sysconfdir=$5 mandir=$6 libdir=$7 includedir=$8
unitdir=$9 sysusersdir=${10} datadir=${11}

tmp=$(mktemp -d "$work/install-check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
fail() {
	echo "FAIL: $*"
	exit 1
}

DESTDIR=$dest cmake --install "$build" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "cmake --install"; }

check_file() { # MODE PATH
	local f=$dest$2
	[ -f "$f" ] || fail "$2 not installed"
	case $1 in
	x) [ -x "$f" ] || fail "$2 is not executable" ;;
	r) [ -r "$f" ] && [ ! -x "$f" ] || fail "$2 should be a plain readable file" ;;
	esac
	echo "ok: $2"
}
check_file x "$sbindir/synguardd"
check_file x "$bindir/synguardctl"
check_file r "$unitdir/synguard.service"
check_file r "$sysusersdir/synguard.conf"
check_file r "$sysconfdir/synguard/synguard.conf"
check_file r "$mandir/man8/synguardd.8"
check_file r "$mandir/man8/synguardctl.8"
check_file r "$mandir/man5/synguard.conf.5"
check_file r "$includedir/synguard_client.h"
check_file r "$libdir/libsynguard_client.a"
check_file r "$datadir/synguard/grafana/synguard.json"
check_file r "$datadir/synguard/prometheus/synguard-alerts.yml"
check_file r "$datadir/synguard/systemd/local-handoff.conf"

# nothing else lands outside these places
unexpected=$(cd "$dest" && find . -type f | sed 's#^\.##' | grep -v -e "^$sbindir/" -e "^$bindir/" \
	-e "^$unitdir/" -e "^$sysusersdir/" -e "^$sysconfdir/synguard/" -e "^$mandir/" \
	-e "^$libdir/libsynguard_client.a$" -e "^$includedir/synguard_client.h$" \
	-e "^$datadir/synguard/grafana/synguard.json$" \
	-e "^$datadir/synguard/prometheus/synguard-alerts.yml$" \
	-e "^$datadir/synguard/systemd/local-handoff.conf$")
[ -z "$unexpected" ] || fail "unexpected files installed: $unexpected"

# the unit runs the installed binary with the installed configuration
grep -qx "ExecStart=$sbindir/synguardd -c $sysconfdir/synguard/synguard.conf" \
	"$dest$unitdir/synguard.service" || fail "unit ExecStart does not name the installed paths"
echo "ok: unit ExecStart=$sbindir/synguardd -c $sysconfdir/synguard/synguard.conf"
grep -qx "ExecReload=$bindir/synguardctl reload" "$dest$unitdir/synguard.service" ||
	fail "unit ExecReload does not name the installed synguardctl"
echo "ok: unit ExecReload=$bindir/synguardctl reload"

out=$("$dest$sbindir/synguardd" -t -c "$dest$sysconfdir/synguard/synguard.conf" 2>&1) ||
	fail "installed daemon rejects the installed configuration: $out"
echo "ok: $out"

if command -v groff >/dev/null; then
	for m in man8/synguardd.8 man8/synguardctl.8 man5/synguard.conf.5; do
		warn=$(groff -man -Tutf8 -ww -z "$dest$mandir/$m" 2>&1)
		[ -z "$warn" ] || fail "$m: groff warnings: $warn"
	done
	echo "ok: man pages render without warnings"
fi

if command -v cc >/dev/null; then
	cat >"$tmp/backend.c" <<'C'
#include <synguard_client.h>
int main(int argc, char **argv) { (void)argv; return argc > 99 ? sgc_connect("/x") : 0; }
C
	# shellcheck disable=SC2086 # flag lists
	cc -Wall -Werror ${SG_CFLAGS:-} -I"$dest$includedir" "$tmp/backend.c" ${SG_LDFLAGS:-} \
		-L"$dest$libdir" -lsynguard_client -o "$tmp/backend" 2>"$tmp/cc.log" ||
		{ cat "$tmp/cc.log"; fail "a backend does not build against the installed client API"; }
	"$tmp/backend" || fail "the backend does not run"
	echo "ok: a backend builds against the installed synguard_client"
fi
echo "PASS: install tree"
