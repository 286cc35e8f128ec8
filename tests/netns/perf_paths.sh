#!/bin/bash
# Queue threads run where daemon.queue_cpus puts them and with the real-time
# priority daemon.queue_priority asks for, and serve both families so; with
# daemon.queue_nice instead, at that nice value, while the daemon's main
# thread keeps its own.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend curl taskset chrt

N=5
lab_up || t_fail "lab up"
export T_QUEUES=0:1
t_config "$(t_listener web4 "$LAB_SERVER4" 80 proxy 127.0.0.1:8080),
$(t_listener web6 "$LAB_SERVER6" 80 proxy 127.0.0.1:8080)"
sed -i 's/^\tqueue = .*/&\n\tqueue_cpus = [1, 0];\n\tqueue_priority = 5;/' "$T_CONF"
grep -q 'queue_priority = 5' "$T_CONF" || t_fail "could not extend the configuration"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon

# placement: thread sg-queue-0 on CPU 1, sg-queue-1 on CPU 0, both SCHED_RR 5
ncpu=$(nproc)
for t in /proc/"$T_DAEMON_PID"/task/*; do
	name=$(cat "$t/comm")
	case "$name" in sg-queue-*) ;; *) continue ;; esac
	i=${name#sg-queue-}
	want=$(((i == 0 ? 1 : 0) % ncpu))
	[ "$ncpu" -ge 2 ] || want=0
	got=$(taskset -c -p "${t##*/}" | sed 's/.*: //')
	t_expect "$name runs on CPU $want" "$got" = "$want"
	pol=$(chrt -p "${t##*/}")
	case "$pol" in *SCHED_RR*) t_ok "$name: SCHED_RR" ;; *) t_fail "$name: $pol" ;; esac
	t_expect "$name priority" "$(echo "$pol" | sed -n 's/.*priority: //p')" = 5
done

for i in $(seq $N); do
	t_curl -f "http://$LAB_SERVER4/" >/dev/null || t_fail "IPv4 fetch $i"
	t_curl -f "http://[$LAB_SERVER6]/" >/dev/null || t_fail "IPv6 fetch $i"
done
t_ok "$N fetches over each family"
t_expect "SYN-ACKs sent" "$(t_stat total.synack_sent)" -ge $((2 * N))
t_expect "handoffs" "$(t_stat total.handoffs)" = $((2 * N))
t_stop_daemon

# queue_nice: normal scheduling at nice -7 for the queue threads only
sed -i 's/^\tqueue_priority = 5;/\tqueue_nice = -7;/' "$T_CONF"
grep -q 'queue_nice = -7' "$T_CONF" || t_fail "could not switch to queue_nice"
t_start_daemon
nice_of() { awk '{ sub(/.*\) /, ""); print $17 }' "$1/stat"; } # field 19 of /proc/TID/stat
for t in /proc/"$T_DAEMON_PID"/task/*; do
	name=$(cat "$t/comm")
	case "$name" in
	sg-queue-*)
		pol=$(chrt -p "${t##*/}")
		case "$pol" in *SCHED_OTHER*) t_ok "$name: SCHED_OTHER" ;; *) t_fail "$name: $pol" ;; esac
		t_expect "$name nice" "$(nice_of "$t")" = -7 ;;
	synguardd) t_expect "main thread nice" "$(nice_of "$t")" = 0 ;;
	esac
done
t_curl -f "http://$LAB_SERVER4/" >/dev/null || t_fail "IPv4 fetch with queue_nice"
t_curl -f "http://[$LAB_SERVER6]/" >/dev/null || t_fail "IPv6 fetch with queue_nice"
echo "PASS: $T_NAME"
