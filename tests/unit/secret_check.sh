#!/bin/bash
# `synguardd -t` checks the cookie secret file as the daemon will: a 0600 or
# 0400 file of at least 32 bytes passes; a group- or world-accessible one, a
# short one, a missing one or a directory is refused with the reason; as
# root, a file owned by another user passes only if that is daemon.user.
#   secret_check.sh SYNGUARDD WORK_DIR
set -u
daemon=$1 work=$2
tmp=$(mktemp -d "$work/secret-check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
key=$tmp/cookie.key
conf=$tmp/synguard.conf

write_conf() { # USER
	cat >"$conf" <<CONF
daemon: { cookie_secret_file = "$key"; user = "$1"; };
listeners = ( { name = "web"; address = "192.0.2.1"; port = 80; backend = "127.0.0.1:8080"; } );
CONF
}

expect_ok() { # WHAT
	local out
	if out=$("$daemon" -t -c "$conf" 2>&1); then
		echo "ok: $1 accepted"
	else
		echo "FAIL: $1 refused: $out"
		exit 1
	fi
}

expect_refused() { # WHAT NEEDLE
	local out
	if out=$("$daemon" -t -c "$conf" 2>&1); then
		echo "FAIL: $1 accepted: $out"
		exit 1
	fi
	case $out in
	*"$2"*) echo "ok: $1 refused: $out" ;;
	*)
		echo "FAIL: $1 refused without \"$2\": $out"
		exit 1
		;;
	esac
}

write_conf synguard
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"
expect_ok "mode 0600, 32 bytes"
chmod 400 "$key"
expect_ok "mode 0400"
chmod 644 "$key"
expect_refused "mode 0644 (world-readable)" "has mode 0644: group and others must have no access"
chmod 604 "$key"
expect_refused "mode 0604" "has mode 0604"
chmod 640 "$key"
expect_refused "mode 0640 (group-readable)" "has mode 0640"
chmod 620 "$key"
expect_refused "mode 0620 (group-writable)" "has mode 0620"
head -c 31 /dev/urandom >"$key"
chmod 600 "$key"
expect_refused "31 bytes" "holds 31 bytes: it must hold 32..65536"
rm -f "$key"
expect_refused "a missing file" "No such file or directory"
mkdir "$key"
expect_refused "a directory" "is not a regular file"
rmdir "$key"

if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
	head -c 64 /dev/urandom >"$key"
	chmod 600 "$key"
	chown nobody "$key"
	write_conf root
	expect_refused "a file of user nobody, daemon.user root" "is owned by uid $(id -u nobody)"
	write_conf nobody
	expect_ok "a file of user nobody, daemon.user nobody"
else
	echo "note: not root: ownership by another user not exercised"
fi
echo "PASS: cookie secret file checks"
