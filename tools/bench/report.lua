-- tools/bench/report.lua - wrk script: print one machine-readable summary line at the end.
-- WRK_RESULT requests=N rps=R mbps=M p99_ms=L p50_ms=L errors=E
-- (mbps: response bytes including headers, 10^6 bytes per second; errors: connect, read,
-- write, timeout and non-2xx/3xx responses)
done = function(summary, latency, requests)
	local secs = summary.duration / 1e6
	local e = summary.errors
	local errors = e.connect + e.read + e.write + e.status + e.timeout
	io.write(string.format(
		"WRK_RESULT requests=%d rps=%.0f mbps=%.1f p99_ms=%.2f p50_ms=%.2f errors=%d\n",
		summary.requests, summary.requests / secs, summary.bytes / secs / 1e6,
		latency:percentile(99) / 1000, latency:percentile(50) / 1000, errors))
end
