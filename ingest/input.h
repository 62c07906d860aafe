/*
 * input.h — open and read one input through libavformat.
 *
 * Kinds (from the URL): "lavfi:<graph>" test sources (libavdevice lavfi),
 * rtsp:// (TCP), rtmp:// (pull, or listen with "?listen=1"), srt://,
 * http(s):// (HLS) and other "scheme://" URLs are live; anything else is a
 * file path. Live inputs get a read timeout: a read that stalls longer than
 * cfg.read_timeout_us fails with -ETIMEDOUT (AVIOInterruptCB), and an open
 * that takes longer than cfg.open_timeout_us fails too (not in listen mode,
 * which waits for a publisher as long as it takes). Every blocking call also
 * returns promptly (-EINTR) once *cfg.stop becomes nonzero.
 *
 * Pacing: with cfg.realtime (and always for lavfi sources, which are meant
 * to be live) packets are released at their DTS pace against the monotonic
 * clock. With cfg.loop a file restarts at EOF and its timestamps continue
 * (offset by the length played so far), so the consumer sees one timeline.
 *
 * Threading: one thread. Errors: 0 or a negative errno; the reason is logged.
 */
#ifndef SLUICE_INGEST_INPUT_H
#define SLUICE_INGEST_INPUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libavformat/avformat.h>

struct input;

enum input_kind { INPUT_FILE = 0, INPUT_LAVFI, INPUT_LIVE, INPUT_LISTEN };

#define INPUT_OPEN_TIMEOUT_US (10 * 1000000LL)
#define INPUT_READ_TIMEOUT_US (10 * 1000000LL)
#define INPUT_URL_MAX 4096

struct input_config {
	const char *url;
	bool realtime;
	bool loop;
	int64_t open_timeout_us;  /* 0 -> INPUT_OPEN_TIMEOUT_US */
	int64_t read_timeout_us;  /* 0 -> INPUT_READ_TIMEOUT_US */
	atomic_int *stop;         /* required; nonzero interrupts everything */
};

/* Kind of a URL (pure). */
enum input_kind input_kind_of(const char *url);
/* True for kinds that reconnect instead of failing. */
bool input_kind_is_live(enum input_kind k);

/*
 * Open and probe. -EINTR (stopped), -ETIMEDOUT, -ENOENT (no such file),
 * -EINVAL (no usable stream / bad URL), -EIO (other), -ENOMEM.
 */
int input_open(const struct input_config *cfg, struct input **out);

AVFormatContext *input_format(struct input *in);
enum input_kind input_kind(const struct input *in);

/*
 * Next packet (caller unrefs). 0; -ENODATA at end of input (never with
 * loop on a file); -EINTR when stopped; -ETIMEDOUT on a stalled live input;
 * other negative errno on read errors (corrupt file, lost connection).
 */
int input_read(struct input *in, AVPacket *pkt);

/*
 * True for an http(s) input that has a known duration (an HLS VOD playlist
 * with #EXT-X-ENDLIST): its end is final, like a file's, not a lost input.
 */
bool input_is_vod(const struct input *in);

/* Bytes read from the input so far. */
uint64_t input_bytes(const struct input *in);

void input_close(struct input **in);

#endif
