/*
 * restream.h — copy the ingested stream to extra RTMP destinations (FLV).
 *
 * Each destination has its own thread and its own bounded packet queue
 * (RESTREAM_QUEUE_MAX packets). The ingest thread only enqueues: when a
 * destination is down, connecting, or too slow and its queue is full, the
 * packet is dropped for that destination and counted; nothing ever blocks
 * ingest or the other destinations. A destination thread connects, writes
 * the FLV header when it has codec parameters and a keyframe, sends, and on
 * any error closes, backs off (cut_backoff_us) and reconnects on its own.
 * Each input session restarts the destinations' FLV timelines
 * (restream_begin).
 *
 * Threading: restream_begin/packet/end are called by one producer thread;
 * destination threads are internal. Errors: 0 or negative errno.
 */
#ifndef SLUICE_INGEST_RESTREAM_H
#define SLUICE_INGEST_RESTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>

struct metrics;
struct restream;

#define RESTREAM_MAX_DESTS 8
#define RESTREAM_QUEUE_MAX 1024
#define RESTREAM_IO_TIMEOUT_US (5 * 1000000LL)

enum restream_state { RESTREAM_DOWN = 0, RESTREAM_CONNECTING, RESTREAM_UP };

/* urls are copied. metrics may be NULL. */
int restream_new(const char *const *urls, size_t n, struct metrics *metrics,
                 struct restream **out);

/*
 * A new session: its video and audio codec parameters (either may be NULL)
 * and packet time bases. Destinations reconnect with a fresh FLV header.
 */
int restream_begin(struct restream *rs, const AVCodecParameters *video, AVRational vtb,
                   const AVCodecParameters *audio, AVRational atb);

/* Queue a packet (not consumed) to every destination; video selects the stream. */
void restream_packet(struct restream *rs, const AVPacket *pkt, int video);

/* State of destination i (for logs and tests). */
enum restream_state restream_state(struct restream *rs, size_t i);

/* Stop every thread and free (sets *rs = NULL). */
void restream_free(struct restream **rs);

#endif
