#!/bin/sh
# Short libFuzzer runs: each target for FUZZ_SECONDS (default 20) from its seed
# corpus tests/fuzz/corpus/<target>/ (copied, so the checked-in corpus stays small).
secs=${FUZZ_SECONDS:-20}
pass=0; fail=0
for f in "$@"; do
	name=$(basename "$f")
	seeds=tests/fuzz/corpus/$name
	work=build/fuzz/corpus-$name
	mkdir -p "$work"
	[ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
	if "$f" -max_total_time="$secs" -max_len=8192 -print_final_stats=0 \
		"$work" >"build/fuzz/$name.log" 2>&1; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); echo "FUZZ FAILED: $name"; tail -n 40 "build/fuzz/$name.log"
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
