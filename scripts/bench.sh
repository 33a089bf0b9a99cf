#!/usr/bin/env bash
# Confab's benchmarks (make bench; docs/benchmarks.md explains them):
#   1. the Go benchmarks of the forwarding path (package sfu);
#   2. short load runs of the real binary: for each scenario, a fresh
#      bin/confab pinned to core 0 and bin/confab-load pinned to core 1,
#      over 127.0.0.1 only;
# then the table of the load runs, in Markdown.
#
# BENCH_SCENARIOS lists the load runs as label:publishers:subscribers:window;
# the default takes under two minutes in all. The table of docs/benchmarks.md:
#   BENCH_SCENARIOS="1×50:1:50:60s 1×200:1:200:60s 1×500:1:500:60s 10×10:10:0:60s 25×25:25:0:60s"
# BENCH_SERVER_CORES lets the server run on other cores than 0 (taskset's
# list, such as 0,1: with more than one, its parallel fan-out works, and
# the server shares the load's core). BENCH_LOAD_FLAGS adds confab-load
# flags to every run; BENCH_GO_BENCH=0
# skips the Go benchmarks. BENCH_IDLE_SPIN=1 keeps the server's core from
# ever going idle during the load runs, with a busy loop at the lowest
# priority (SCHED_IDLE, which yields to the server at once): on a virtual
# machine, a virtual CPU that halts when idle pays the hypervisor's
# wake-up each time a packet arrives (docs/benchmarks.md, Machine). The
# busy loop's CPU is not the server's.
#
# Before each load run, the server's core measures one 1200-byte loopback
# datagram sent through net.UDPConn (BenchmarkSocketWrite/UDPConn), the
# cost the issue quotes for one loopback send (about 4.3 µs with the
# kernel's delivery, on its machine; here drained on the same core).
# A virtual machine drifts by 10-25 % over hours; the last two columns of
# the table, the yardstick and µs/pkt divided by it, let runs made at
# different times be compared.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
SCENARIOS=${BENCH_SCENARIOS:-"1×200:1:200:25s 10×10:10:0:20s"}
WARMUP=${BENCH_WARMUP:-3s}
OUT=${BENCH_OUT:-bin/bench}

if [ "${BENCH_GO_BENCH:-1}" != 0 ]; then
	echo "== Go benchmarks: one publisher packet fanned out (package sfu)"
	$GO test -run '^$' -bench . -benchmem ./sfu/
fi

echo "== building bin/confab, bin/confab-load and the yardstick (bin/sfu.test)"
$GO build -o bin/confab ./cmd/confab
$GO build -o bin/confab-load ./cmd/confab-load
$GO test -c -o bin/sfu.test ./sfu
mkdir -p "$OUT"

# The server runs on core 0 and the load on core 1, when the machine has
# two cores and taskset.
server_pin=() load_pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	server_pin=(taskset -c "${BENCH_SERVER_CORES:-0}")
	load_pin=(taskset -c 1)
else
	echo "note: not pinning the server and the load to cores (needs taskset and 2 cores)" >&2
fi

server_pid=
stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
}

spin_pid=
start_spin() {
	if [ "${BENCH_IDLE_SPIN:-0}" = 1 ]; then
		"${server_pin[@]}" chrt -i 0 sh -c 'while :; do :; done' &
		spin_pid=$!
	fi
}
stop_spin() {
	if [ -n "$spin_pid" ]; then
		kill "$spin_pid" 2>/dev/null || true
		wait "$spin_pid" 2>/dev/null || true
		spin_pid=
	fi
}
trap 'stop_server; stop_spin' EXIT

# start_server LOG: start a fresh bin/confab on random loopback ports; sets
# server_pid and server_url. A port someone else holds makes it try again.
start_server() {
	local log=$1 attempt port udp
	for attempt in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 20000))
		udp=$((40000 + RANDOM % 20000))
		CONFAB_HTTP_ADDR=127.0.0.1:$port CONFAB_ICE_IPS=127.0.0.1 CONFAB_ICE_UDP_PORT=$udp \
			CONFAB_ROOMS_MAX_PARTICIPANTS=1000 CONFAB_LOG_LEVEL=warn \
			"${server_pin[@]}" bin/confab >"$log" 2>&1 &
		server_pid=$!
		for _ in $(seq 50); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				server_url=http://127.0.0.1:$port
				return 0
			fi
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		stop_server
	done
	echo "bench: the server did not start; its log:" >&2
	cat "$log" >&2
	return 1
}

# yardstick prints the µs one loopback datagram through net.UDPConn costs
# on the server's core, now: the median of three one-second runs.
yardstick() {
	local v
	v=$("${server_pin[@]}" bin/sfu.test -test.run '^$' -test.bench 'SocketWrite/UDPConn$' -test.benchtime 1s -test.count 3 |
		awk '$1 ~ /^BenchmarkSocketWrite\/UDPConn/ { printf "%.2f\n", $3 / 1000 }' | sort -n | sed -n 2p)
	echo "${v:-?}"
}

rows=()
for scenario in $SCENARIOS; do
	IFS=: read -r label pubs subs window <<<"$scenario"
	echo "== load: $label ($pubs publisher(s), $subs subscriber(s), window $window)"
	send_us=$(yardstick)
	echo "yardstick: one loopback datagram through net.UDPConn costs $send_us µs on the server's core"
	start_spin
	start_server "$OUT/server-$label.log"
	# shellcheck disable=SC2086 # BENCH_LOAD_FLAGS is a list of flags
	"${load_pin[@]}" bin/confab-load -url "$server_url" -pid "$server_pid" \
		-publishers "$pubs" -subscribers "$subs" -warmup "$WARMUP" -duration "$window" \
		-log-level warn -row "$label" ${BENCH_LOAD_FLAGS:-} | tee "$OUT/load-$label.txt"
	row=$(grep '^| ' "$OUT/load-$label.txt")
	# The fourth column is the server's µs per forwarded packet.
	rows+=("$(awk -F' [|] ' -v s="$send_us" '{ r = ($4 + 0 > 0 && s + 0 > 0) ? sprintf("%.2f", $4 / s) : "?"; printf "%s %s | %s |\n", $0, s, r }' <<<"$row")")
	stop_server
	stop_spin
done

echo
echo "== results (commit $(git describe --always --dirty 2>/dev/null || echo unknown); $(nproc) cores)"
bin/confab-load -table-header | awk 'NR == 1 { print $0 " one send µs | µs/pkt ÷ one send |"; next } { print $0 " ---: | ---: |" }'
printf '%s\n' "${rows[@]}"
