#!/usr/bin/env bash
# A/B two builds of the server at the same time (docs/benchmarks.md, "A/B at
# once"):
#   scripts/ab.sh OLD_BINARY NEW_BINARY [PUBLISHERS SUBSCRIBERS WINDOW PAIRS]
# e.g. scripts/ab.sh /tmp/confab-old bin/confab 10 0 15s 6
#
# Each pair runs both servers at once, both pinned to core 0, each with its
# own bin/confab-load pinned to core 1, so both see the same machine in the
# same seconds; a virtual machine's drift (10-25 % over hours) then cancels
# in the ratio of their CPU per forwarded packet. The order of starting
# alternates between pairs. It prints each pair's figures and the ratio
# new / old, then the mean ratio.
#
# Both servers share one core, so the core idles less than in a run alone:
# the cost of waking an idle core is under-weighted.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
	sed -n '2,5p' "$0" >&2
	exit 2
fi
old=$1 new=$2 pubs=${3:-10} subs=${4:-0} window=${5:-15s} pairs=${6:-6}
${GO:-go} build -o bin/confab-load ./cmd/confab-load
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT

server_pin=() load_pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	server_pin=(taskset -c 0)
	load_pin=(taskset -c 1)
fi

# run BINARY OUT HTTP_PORT: one server and its load; the load's table row
# (its fourth column is µs per forwarded packet) goes to OUT.
run() {
	local bin=$1 out=$2 port=$3 pid
	CONFAB_HTTP_ADDR=127.0.0.1:$port CONFAB_ICE_IPS=127.0.0.1 CONFAB_ICE_UDP_PORT=0 \
		CONFAB_ROOMS_MAX_PARTICIPANTS=1000 CONFAB_LOG_LEVEL=warn \
		"${server_pin[@]}" "$bin" >"$out.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	"${load_pin[@]}" bin/confab-load -url "http://127.0.0.1:$port" -pid "$pid" \
		-publishers "$pubs" -subscribers "$subs" -duration "$window" \
		-log-level warn -row x >"$out.txt" 2>&1 || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	grep '^| ' "$out.txt" | awk -F' [|] ' '{ print $4 + 0 }' >"$out"
}

ratios=()
for i in $(seq "$pairs"); do
	base=$((20000 + RANDOM % 20000))
	if [ $((i % 2)) = 1 ]; then
		run "$old" "$dir/old" "$base" &
		run "$new" "$dir/new" "$((base + 1))" &
	else
		run "$new" "$dir/new" "$((base + 1))" &
		run "$old" "$dir/old" "$base" &
	fi
	wait
	a=$(cat "$dir/old") b=$(cat "$dir/new")
	if [ "${a:-0}" = 0 ] || [ "${b:-0}" = 0 ]; then
		echo "pair $i failed; the loads said:" >&2
		cat "$dir/old.txt" "$dir/new.txt" >&2
		continue
	fi
	r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
	ratios+=("$r")
	echo "pair $i: old $a µs, new $b µs per forwarded packet; new / old $r"
done
printf '%s\n' "${ratios[@]}" | awk '{ s += $1; n++ } END { if (n) printf "mean new / old over %d pairs: %.3f\n", n, s / n }'
