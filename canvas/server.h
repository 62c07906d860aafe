/*
 * server.h — the Pixelflut TCP server: io_uring ring threads that parse
 * player lines and write pixels straight into the shared framebuffer.
 *
 * One listening socket; each of `threads` threads owns an io_uring with a
 * multishot accept on it, and its connections (single-shot recv into the
 * connection's own input buffer, parsed in place by px_parse(); replies go
 * to a bounded per-connection output buffer; when it is full, parsing
 * pauses until the send completes). Per-IP connection limit: a connection
 * over it is closed at once and counted. A line longer than PX_LINE_MAX
 * closes its connection (counted).
 *
 * Metrics (registry borrowed, thread-safe): sluice_canvas_pixels_total,
 * sluice_canvas_bytes_total, sluice_canvas_connections (gauge),
 * sluice_canvas_accepted_total, sluice_canvas_bad_lines_total,
 * sluice_canvas_out_of_range_total, sluice_canvas_reads_total,
 * sluice_canvas_closed_total{reason="line_too_long"|"per_ip_limit"}.
 * Per-IP top talkers are rendered on demand by canvas_server_render_top().
 *
 * Threading: start/stop from one thread; render_top from any thread.
 * Errors: 0 or negative errno (-EADDRINUSE, -EINVAL bad address, -ENOMEM,
 * -ENOSYS io_uring unavailable).
 */
#ifndef SLUICE_CANVAS_SERVER_H
#define SLUICE_CANVAS_SERVER_H

#include <stddef.h>
#include <stdint.h>

#define CANVAS_THREADS_MAX 64
#define CANVAS_TOP_TALKERS 10

struct fb;
struct metrics;
struct canvas_server;

struct canvas_server_config {
	const char *host;
	uint16_t port;
	int threads;               /* 1..CANVAS_THREADS_MAX */
	int max_conns_per_ip;      /* > 0 */
	struct fb *fb;             /* borrowed */
	struct metrics *metrics;   /* borrowed */
};

int canvas_server_start(const struct canvas_server_config *cfg, struct canvas_server **out);
/* Stop accepting, close every connection, join the threads, free. NULL-safe. */
void canvas_server_stop(struct canvas_server **s);

/*
 * Append Prometheus text for the CANVAS_TOP_TALKERS connected IPs with the
 * most pixels (sluice_canvas_ip_pixels{ip="..."} gauge) to a malloc'd
 * buffer: *buf (may be NULL) is realloc'd, *len updated. 0 or -ENOMEM.
 */
int canvas_server_render_top(struct canvas_server *s, char **buf, size_t *len);

#endif
