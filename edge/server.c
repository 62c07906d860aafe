/*
 * server.c — ring threads, connections, request handling.
 *
 * Model. Each thread (struct ethread) owns:
 *   - an io_uring; a SO_REUSEPORT listener with a multishot accept;
 *   - a provided-buffer ring (EDGE_BUF_COUNT x EDGE_BUF_SIZE, group EDGE_BGID)
 *     fed to one multishot recv per connection (or, when the kernel lacks
 *     them, single-shot recv straight into the connection's input buffer);
 *   - an eventfd read (fetch results and wake-ups) and a 1 s timeout (Date
 *     header, idle timeouts, drain progress);
 *   - a pool of struct conn (magic-checked on every CQE; never freed before
 *     the thread ends, so fetch results can be matched by (pointer, gen)).
 * user_data = conn or ethread pointer | op tag (low 3 bits). 0 = ignore.
 *
 * A connection alternates READING (parse from its input buffer), WAITING
 * (a miss is with the fetcher) and SENDING (one response in flight: a
 * sendmsg of [header, body] from a refcounted cache entry; for memfd-backed
 * entries of EDGE_SPLICE_MIN or more, send(header, MSG_MORE) + sendfile(2)
 * straight from the ring thread (sockets are O_NONBLOCK; a full socket arms
 * a one-shot POLLOUT), since io_uring runs every splice in an io-wq worker
 * and the hand-offs cost more than the copy they save; disk-tier files go
 * header, then file->pipe->socket io_uring splices, which may block on the
 * disk and so belong in io-wq). Pipelined requests stay in
 * the input buffer until the previous response is sent. Received bytes are
 * copied out of a provided buffer into the input buffer at once and the
 * buffer goes back to the ring; when the input buffer is full, up to
 * EDGE_HELD_MAX buffers are held (recv cancelled at EDGE_HELD_STOP) and
 * released as the input buffer drains. -ENOBUFS stops a multishot recv; it is
 * re-armed after the current batch of completions.
 *
 * A connection closes by cancelling its recv; it returns to the pool when no
 * operation of it is in flight (recv, send, splice).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "edge/http_parse.h"
#include "edge/server.h"

#define EDGE_CONN_MAGIC 0x45434f4eu      /* "ECON" */
#define EDGE_CONN_FREE_MAGIC 0x46524545u /* "FREE" */
#define EDGE_THREAD_MAGIC 0x45544852u    /* "ETHR" */
#define EDGE_IN_BUF 16384
#define EDGE_BUF_SIZE 4096
#define EDGE_BUF_COUNT 1024 /* power of two */
#define EDGE_BGID 1
#define EDGE_HELD_MAX 64 /* 256 KiB of unread pipelined requests, then close */
#define EDGE_HELD_STOP 4
#define EDGE_MAX_CONNS 16384 /* per thread */
#define EDGE_RING_ENTRIES 2048
#define EDGE_HDR_MAX 768
#define EDGE_IDLE_US (75 * 1000000LL)
#define EDGE_HEADER_US (15 * 1000000LL)
#define EDGE_PIPE_SIZE (256u << 10) /* asked for; the kernel may give less */
#define EDGE_SPLICE_MIN (64u << 10) /* memfd-backed bodies this large go by sendfile */
#define EDGE_SENDFILE_CHUNK (4u << 20) /* most bytes per sendfile(2) call */
#define EDGE_PUMP_DEPTH_MAX 8          /* nested direct sends (pipelining) before a POLLOUT */
#define EDGE_LISTEN_BACKLOG 4096

enum op {
	OP_RECV = 1,
	OP_SEND = 2,
	OP_SPLICE_IN = 3,
	OP_SPLICE_OUT = 4,
	OP_ACCEPT = 5,
	OP_EVENTFD = 6,
	OP_TIMER = 7,
	OP_POLLOUT = 8,
};
#define OP_MASK 15u /* struct conn and struct ethread are 16-byte aligned */
#define EDGE_OBJ_ALIGN 16

enum cstate { C_READING = 0, C_WAITING = 1, C_SENDING = 2 };

struct ethread;

struct conn {
	_Alignas(EDGE_OBJ_ALIGN) uint32_t magic;
	uint32_t gen;
	struct ethread *t;
	int fd;
	int pipefd[2];
	int file_fd;
	enum cstate state;
	bool recv_armed, send_busy, splice_busy, poll_busy, closing, peer_closed, close_after;
	bool recv_stopped, in_rearm;
	int64_t last_us;

	/* input */
	uint32_t in_start, in_len;
	uint16_t held_n;
	uint16_t held_bid[EDGE_HELD_MAX];
	uint32_t held_off[EDGE_HELD_MAX], held_len[EDGE_HELD_MAX];
	struct http_request req;

	/* response in flight */
	char hdr[EDGE_HDR_MAX];
	struct iovec iov[2];
	struct msghdr msg;
	int msg_flags;
	struct cache_entry *e;
	char *heap;
	uint64_t file_off, file_left;
	uint32_t pipe_bytes;
	uint32_t pipe_cap;
	bool file_owned;
	bool direct;       /* header by send(2), body by sendfile(2), POLLOUT waits */
	uint32_t hdr_off;  /* direct: header bytes already sent */
	uint32_t hdr_len;
	uint8_t pump_depth;
	uint64_t sent;
	int status;
	bool is_head;

	struct conn *next, *prev; /* active list, or free list (next only) */
	struct conn *rearm_next;
	char in[EDGE_IN_BUF];
};

struct done_q {
	pthread_mutex_t mu;
	struct fetch_done *head, *tail;
};

struct ethread {
	_Alignas(EDGE_OBJ_ALIGN) uint32_t magic;
	int idx;
	struct edge_server *s;
	struct io_uring ring;
	bool ring_ok;
	int lfd;
	int efd;
	uint64_t efd_val;
	struct __kernel_timespec tick;
	bool multishot; /* provided buffers + multishot recv */
	struct io_uring_buf_ring *br;
	size_t br_len;
	uint8_t *bufs;
	bool accept_armed;
	bool accepting;
	struct conn *active;
	struct conn *free;
	struct conn *rearm;
	uint64_t bufs_returned; /* provided buffers given back to the ring */
	uint64_t rearm_mark;    /* bufs_returned at the last -ENOBUFS */
	unsigned nconns, nalloc;
	struct done_q dq;
	char date[64];
	uint32_t date_len;
	pthread_t thr;
	bool started;
	bool exit;
	int64_t drain_deadline;
};

enum {
	ST_200,
	ST_204,
	ST_206,
	ST_304,
	ST_400,
	ST_404,
	ST_405,
	ST_414,
	ST_416,
	ST_431,
	ST_500,
	ST_501,
	ST_502,
	ST_503,
	ST_505,
	ST_N
};
static const int status_codes[ST_N] = {200, 204, 206, 304, 400, 404, 405, 414,
                                       416, 431, 500, 501, 502, 503, 505};

struct edge_server {
	struct edge_server_config cfg;
	struct cache *cache;
	struct fetcher *fetcher;
	struct metrics *m;
	struct metric *req[ST_N];
	struct metric *hits_mem, *hits_disk, *misses, *upstream, *verify, *bytes_sent;
	struct metric *conns_g, *cache_mem_g, *cache_disk_g, *refused;
	struct metric *lim_nobufs, *lim_pipeline;
	atomic_llong conns;
	atomic_int draining;
	int nthreads;
	struct ethread *threads;
};

/* ---- small helpers ---------------------------------------------------- */

static int
status_idx(int code)
{
	for (int i = 0; i < ST_N; i++)
		if (status_codes[i] == code)
			return i;
	return ST_500;
}

static const char *
status_text(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 414:
		return "URI Too Long";
	case 416:
		return "Range Not Satisfiable";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

struct hb {
	char *p;
	size_t n, cap;
};

static void
hb_mem(struct hb *b, const char *s, size_t n)
{
	if (b->n + n > b->cap)
		n = b->cap - b->n;
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void
hb_str(struct hb *b, const char *s)
{
	hb_mem(b, s, strlen(s));
}

static void
hb_u64(struct hb *b, uint64_t v)
{
	char tmp[24];
	int i = (int)sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	hb_mem(b, tmp + i, sizeof(tmp) - (size_t)i);
}

static void
update_date(struct ethread *t)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	size_t n = strftime(t->date, sizeof(t->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	t->date_len = (uint32_t)n;
}

static struct io_uring_sqe *
get_sqe(struct ethread *t)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
	while (sqe == NULL) {
		io_uring_submit(&t->ring);
		sqe = io_uring_get_sqe(&t->ring);
	}
	return sqe;
}

static inline uint64_t
ud(void *p, enum op op)
{
	return (uint64_t)(uintptr_t)p | (uint64_t)op;
}

/* ---- buffers, recv and connection lifetime ------------------------------ */

static void conn_close(struct conn *c);
static void process_input(struct conn *c);
static void process_rearm(struct ethread *t);

static void
buf_return(struct ethread *t, uint16_t bid)
{
	io_uring_buf_ring_add(t->br, t->bufs + (size_t)bid * EDGE_BUF_SIZE, EDGE_BUF_SIZE, bid,
	                      io_uring_buf_ring_mask(EDGE_BUF_COUNT), 0);
	io_uring_buf_ring_advance(t->br, 1);
	t->bufs_returned++;
}

/* Input bytes may move only when no single-shot recv is writing into them. */
static bool
can_move(const struct conn *c)
{
	return c->t->multishot || !c->recv_armed;
}

static void
compact(struct conn *c)
{
	if (c->in_start == 0 || !can_move(c))
		return;
	if (c->in_start < c->in_len)
		memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
	c->in_len -= c->in_start;
	c->in_start = 0;
}

static void
arm_recv(struct conn *c)
{
	struct ethread *t = c->t;
	struct io_uring_sqe *sqe;

	if (c->recv_armed || c->closing || c->peer_closed)
		return;
	if (t->multishot) {
		if (c->held_n > 0)
			return;
		sqe = get_sqe(t);
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = EDGE_BGID;
	} else {
		compact(c);
		if (c->in_len >= EDGE_IN_BUF)
			return;
		sqe = get_sqe(t);
		io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, EDGE_IN_BUF - c->in_len, 0);
	}
	io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
	c->recv_armed = true;
	c->recv_stopped = false;
}

/* Move held provided buffers into the input buffer as space allows. */
static void
pull_held(struct conn *c)
{
	struct ethread *t = c->t;

	if (c->held_n == 0)
		return;
	compact(c);
	while (c->held_n > 0) {
		uint32_t space = EDGE_IN_BUF - c->in_len;
		if (space == 0)
			break;
		uint32_t n = c->held_len[0] < space ? c->held_len[0] : space;
		memcpy(c->in + c->in_len,
		       t->bufs + (size_t)c->held_bid[0] * EDGE_BUF_SIZE + c->held_off[0], n);
		c->in_len += n;
		c->held_off[0] += n;
		c->held_len[0] -= n;
		if (c->held_len[0] > 0)
			break;
		buf_return(t, c->held_bid[0]);
		c->held_n--;
		memmove(c->held_bid, c->held_bid + 1, c->held_n * sizeof(c->held_bid[0]));
		memmove(c->held_off, c->held_off + 1, c->held_n * sizeof(c->held_off[0]));
		memmove(c->held_len, c->held_len + 1, c->held_n * sizeof(c->held_len[0]));
	}
	if (c->held_n == 0)
		arm_recv(c);
}

static struct conn *
conn_alloc(struct ethread *t, int fd)
{
	struct conn *c = t->free;

	if (c) {
		t->free = c->next;
	} else {
		if (t->nalloc >= EDGE_MAX_CONNS)
			return NULL;
		c = aligned_alloc(EDGE_OBJ_ALIGN, sizeof(*c));
		if (c == NULL)
			return NULL;
		c->gen = 0;
		t->nalloc++;
	}
	uint32_t gen = c->gen + 1;
	memset(c, 0, offsetof(struct conn, in));
	c->magic = EDGE_CONN_MAGIC;
	c->gen = gen;
	c->t = t;
	c->fd = fd;
	c->pipefd[0] = c->pipefd[1] = -1;
	c->file_fd = -1;
	c->state = C_READING;
	c->last_us = time_mono_us();
	http_request_init(&c->req);
	c->next = t->active;
	c->prev = NULL;
	if (t->active)
		t->active->prev = c;
	t->active = c;
	t->nconns++;
	atomic_fetch_add(&t->s->conns, 1);
	return c;
}

static void
release_response(struct conn *c)
{
	cache_entry_put(&c->e);
	free(c->heap);
	c->heap = NULL;
	if (c->file_fd >= 0 && c->file_owned)
		close(c->file_fd);
	c->file_fd = -1;
	c->file_owned = false;
	c->file_left = 0;
	c->pipe_bytes = 0;
	c->direct = false;
}

static void
conn_maybe_free(struct conn *c)
{
	struct ethread *t = c->t;

	if (c->magic != EDGE_CONN_MAGIC || !c->closing || c->recv_armed || c->send_busy ||
	    c->splice_busy || c->poll_busy)
		return; /* not closing, still busy, or already back in the pool */
	release_response(c);
	close(c->fd);
	if (c->pipefd[0] >= 0) {
		close(c->pipefd[0]);
		close(c->pipefd[1]);
		c->pipefd[0] = c->pipefd[1] = -1;
	}
	while (c->held_n > 0)
		buf_return(t, c->held_bid[--c->held_n]);
	if (c->in_rearm) {
		struct conn **pp = &t->rearm;
		while (*pp && *pp != c)
			pp = &(*pp)->rearm_next;
		if (*pp)
			*pp = c->rearm_next;
		c->in_rearm = false;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		t->active = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->magic = EDGE_CONN_FREE_MAGIC;
	c->gen++;
	c->next = t->free;
	t->free = c;
	t->nconns--;
	atomic_fetch_sub(&t->s->conns, 1);
}

static void
conn_close(struct conn *c)
{
	if (c->closing || c->magic != EDGE_CONN_MAGIC)
		return;
	c->closing = true;
	if (c->recv_armed) {
		struct io_uring_sqe *sqe = get_sqe(c->t);
		io_uring_prep_cancel64(sqe, ud(c, OP_RECV), 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
	shutdown(c->fd, SHUT_RDWR);
	conn_maybe_free(c);
}

/* ---- responses ---------------------------------------------------------- */

static void
submit_send(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(c->t);
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, (unsigned)(c->msg_flags | MSG_NOSIGNAL));
	io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
	c->send_busy = true;
}

static void
hb_start(struct conn *c, struct hb *b, int code)
{
	struct edge_server *s = c->t->s;
	b->p = c->hdr;
	b->n = 0;
	b->cap = sizeof(c->hdr);
	hb_str(b, "HTTP/1.1 ");
	hb_u64(b, (uint64_t)code);
	hb_str(b, " ");
	hb_str(b, status_text(code));
	hb_str(b, "\r\nServer: sluice-edge\r\n");
	hb_mem(b, c->t->date, c->t->date_len);
	if (atomic_load_explicit(&s->draining, memory_order_relaxed))
		c->close_after = true;
	c->status = code;
	metric_inc(s->req[status_idx(code)]);
}

static void
hb_end(struct conn *c, struct hb *b)
{
	if (c->close_after)
		hb_str(b, "Connection: close\r\n");
	else if (c->req.version_minor == 0)
		hb_str(b, "Connection: keep-alive\r\n");
	hb_str(b, "\r\n");
}

/* Start sending c->hdr[0..hlen) + body (may be NULL). */
static void
start_send(struct conn *c, size_t hlen, const void *body, size_t blen, int flags)
{
	c->iov[0].iov_base = c->hdr;
	c->iov[0].iov_len = hlen;
	c->iov[1].iov_base = (void *)body;
	c->iov[1].iov_len = blen;
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = c->iov;
	c->msg.msg_iovlen = blen ? 2 : 1;
	c->msg_flags = flags;
	c->sent = 0;
	c->state = C_SENDING;
	submit_send(c);
}

static void
respond_text(struct conn *c, int code, const char *extra, const char *body, bool close)
{
	struct hb b;
	size_t blen = body ? strlen(body) : 0;

	if (close)
		c->close_after = true;
	hb_start(c, &b, code);
	if (extra)
		hb_str(&b, extra);
	if (code != 204 && code != 304) {
		hb_str(&b, "Content-Type: text/plain\r\nContent-Length: ");
		hb_u64(&b, blen);
		hb_str(&b, "\r\n");
	}
	hb_end(c, &b);
	if (c->is_head || code == 204 || code == 304)
		blen = 0;
	if (blen > 0 && b.n + blen <= b.cap) {
		hb_mem(&b, body, blen);
		blen = 0;
	}
	start_send(c, b.n, blen ? body : NULL, blen, 0);
}

static void
respond_error(struct conn *c, int code, const char *reason, bool close)
{
	char body[160];
	snprintf(body, sizeof(body), "%d %s: %s\n", code, status_text(code), reason);
	respond_text(c, code, NULL, body, close);
}

/*
 * Header for an object of size bytes; sets *first and *len of the body part
 * to send (len 0 for HEAD, 304, 416). Returns header length.
 */
static size_t
seg_header(struct conn *c, const char *cid, uint64_t size, uint64_t *first, uint64_t *len)
{
	struct hb b;
	uint64_t a = 0, z = size ? size - 1 : 0;
	int code = 200;

	if (c->req.range.len) {
		enum http_range_result rr = http_range(c->in + c->in_start + c->req.range.off,
		                                       c->req.range.len, size, &a, &z);
		if (rr == HTTP_RANGE_OK)
			code = 206;
		else if (rr == HTTP_RANGE_UNSAT)
			code = 416;
		else {
			a = 0;
			z = size ? size - 1 : 0;
		}
	}
	hb_start(c, &b, code);
	hb_str(&b, "Content-Type: video/mp2t\r\nAccept-Ranges: bytes\r\n"
	           "Cache-Control: public, max-age=31536000, immutable\r\n"
	           "Access-Control-Allow-Origin: *\r\nETag: \"");
	hb_mem(&b, cid, CID_HEX_LEN);
	hb_str(&b, "\"\r\nContent-Length: ");
	if (code == 416) {
		hb_str(&b, "0\r\nContent-Range: bytes */");
		hb_u64(&b, size);
		hb_str(&b, "\r\n");
		*len = 0;
	} else {
		uint64_t n = size ? z - a + 1 : 0;
		hb_u64(&b, n);
		hb_str(&b, "\r\n");
		if (code == 206) {
			hb_str(&b, "Content-Range: bytes ");
			hb_u64(&b, a);
			hb_str(&b, "-");
			hb_u64(&b, z);
			hb_str(&b, "/");
			hb_u64(&b, size);
			hb_str(&b, "\r\n");
		}
		*len = c->is_head ? 0 : n;
	}
	*first = a;
	hb_end(c, &b);
	return b.n;
}

static bool
ensure_pipe(struct conn *c)
{
	if (c->pipefd[0] >= 0)
		return true;
	if (pipe2(c->pipefd, O_CLOEXEC) != 0) {
		log_warn("pipe2: %s", strerror(errno));
		c->pipefd[0] = c->pipefd[1] = -1;
		return false;
	}
	fcntl(c->pipefd[1], F_SETPIPE_SZ, (int)EDGE_PIPE_SIZE);
	int sz = fcntl(c->pipefd[1], F_GETPIPE_SZ);
	c->pipe_cap = sz > 0 ? (uint32_t)sz : 65536u;
	return true;
}

/* Header by sendmsg (MSG_MORE), then body fd -> pipe -> socket. */
static void
start_splice(struct conn *c, size_t hlen, int fd, bool owned, uint64_t first, uint64_t len)
{
	c->file_fd = fd;
	c->file_owned = owned;
	c->file_off = first;
	c->file_left = len;
	start_send(c, hlen, NULL, 0, len ? MSG_MORE : 0);
}

static void direct_pump(struct conn *c);
static void splice_out(struct conn *c);
static void response_done(struct conn *c);

static void
arm_pollout(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(c->t);
	io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
	io_uring_sqe_set_data64(sqe, ud(c, OP_POLLOUT));
	c->poll_busy = true;
}

/*
 * Header by send(MSG_MORE), body by sendfile(2) from the memfd, both
 * non-blocking from this thread (the socket is O_NONBLOCK); a full socket
 * buffer arms a one-shot POLLOUT and the pump resumes on its completion.
 * Zero-copy without io_uring's splice, which always runs in io-wq workers.
 */
static void
start_direct(struct conn *c, size_t hlen, int fd, uint64_t first, uint64_t len)
{
	c->direct = true;
	c->file_fd = fd;
	c->file_owned = false;
	c->file_off = first;
	c->file_left = len;
	c->hdr_off = 0;
	c->hdr_len = (uint32_t)hlen;
	c->sent = 0;
	c->state = C_SENDING;
	/* Pipelined hits would otherwise nest pump -> done -> parse -> pump. */
	if (c->pump_depth >= EDGE_PUMP_DEPTH_MAX) {
		arm_pollout(c);
		return;
	}
	c->pump_depth++;
	direct_pump(c);
	c->pump_depth--;
}

static void
direct_pump(struct conn *c)
{
	struct edge_server *s = c->t->s;
	uint64_t done = 0;
	ssize_t n;

	for (;;) {
		if (c->hdr_off < c->hdr_len) {
			n = send(c->fd, c->hdr + c->hdr_off, c->hdr_len - c->hdr_off,
			         MSG_DONTWAIT | MSG_NOSIGNAL | (c->file_left ? MSG_MORE : 0));
			if (n > 0)
				c->hdr_off += (uint32_t)n;
		} else if (c->file_left > 0) {
			off_t off = (off_t)c->file_off;
			size_t want = c->file_left > EDGE_SENDFILE_CHUNK ? EDGE_SENDFILE_CHUNK
			                                                 : (size_t)c->file_left;
			n = sendfile(c->fd, c->file_fd, &off, want);
			if (n > 0) {
				c->file_off += (uint64_t)n;
				c->file_left -= (uint64_t)n;
			} else if (n == 0) {
				n = -1;
				errno = EIO; /* the file is shorter than its index entry */
			}
		} else {
			break;
		}
		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (done)
			metric_add(s->bytes_sent, (double)done);
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			arm_pollout(c);
			return;
		}
		if (errno != EPIPE && errno != ECONNRESET)
			log_warn("sendfile: %s", strerror(errno));
		conn_close(c);
		return;
	}
	if (done)
		metric_add(s->bytes_sent, (double)done);
	response_done(c);
}

static void
on_pollout(struct conn *c, int res)
{
	c->poll_busy = false;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		conn_close(c);
		return;
	}
	if (c->direct)
		direct_pump(c);
	else
		splice_out(c);
}

/* Takes the caller's reference to e. */
static void
respond_entry(struct conn *c, struct cache_entry *e)
{
	uint64_t first = 0, len = 0;
	size_t hlen = seg_header(c, e->cid, e->size, &first, &len);
	c->e = e;
	if (e->fd >= 0 && len >= EDGE_SPLICE_MIN) {
		start_direct(c, hlen, e->fd, first, len);
		return;
	}
	start_send(c, hlen, len ? e->data + first : NULL, (size_t)len, 0);
}

/* Takes ownership of fd. */
static void
respond_file(struct conn *c, const char *cid, int fd, uint64_t size)
{
	uint64_t first = 0, len = 0;

	if (!c->is_head && !ensure_pipe(c)) {
		close(fd);
		respond_error(c, 503, "out of pipes", false);
		return;
	}
	size_t hlen = seg_header(c, cid, size, &first, &len);
	start_splice(c, hlen, fd, true, first, len);
}

static void
respond_metrics(struct conn *c)
{
	struct edge_server *s = c->t->s;
	char *buf = NULL;
	size_t len = 0;
	struct hb b;

	metric_set(s->conns_g, (double)atomic_load(&s->conns));
	metric_set(s->cache_mem_g, (double)cache_bytes(s->cache, CACHE_TIER_MEM));
	metric_set(s->cache_disk_g, (double)cache_bytes(s->cache, CACHE_TIER_DISK));
	if (metrics_render(s->m, &buf, &len) != 0) {
		respond_error(c, 503, "out of memory", false);
		return;
	}
	hb_start(c, &b, 200);
	hb_str(&b, "Content-Type: text/plain; version=0.0.4\r\nContent-Length: ");
	hb_u64(&b, len);
	hb_str(&b, "\r\n");
	hb_end(c, &b);
	c->heap = buf;
	start_send(c, b.n, c->is_head ? NULL : buf, c->is_head ? 0 : len, 0);
}

static void
start_fetch(struct conn *c, const char *cid)
{
	struct ethread *t = c->t;
	if (fetcher_request(t->s->fetcher, cid, t, c, c->gen) != 0) {
		respond_error(c, 503, "cannot fetch now", false);
		return;
	}
	c->state = C_WAITING;
}

static bool
etag_matches(const char *v, size_t n, const char *cid)
{
	/* "*", "<cid>", W/"<cid>", or a list containing one of them. */
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '*')
			return true;
		if (v[i] == '"' && i + 1 + CID_HEX_LEN < n &&
		    memcmp(v + i + 1, cid, CID_HEX_LEN) == 0 && v[i + 1 + CID_HEX_LEN] == '"')
			return true;
	}
	return false;
}

static void
serve_seg(struct conn *c, const char *cid)
{
	struct edge_server *s = c->t->s;
	struct cache_hit hit;
	char cidbuf[CID_BUF_LEN];

	memcpy(cidbuf, cid, CID_HEX_LEN);
	cidbuf[CID_HEX_LEN] = '\0';
	if (c->req.if_none_match.len && etag_matches(c->in + c->in_start + c->req.if_none_match.off,
	                                             c->req.if_none_match.len, cidbuf)) {
		char extra[128];
		snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\n", cidbuf);
		respond_text(c, 304, extra, NULL, false);
		return;
	}
	int rc = cache_lookup(s->cache, cidbuf, &hit);
	if (rc == 1 && hit.tier == CACHE_TIER_MEM) {
		metric_inc(s->hits_mem);
		respond_entry(c, hit.e);
		return;
	}
	if (rc == 1 && hit.fd >= 0) {
		metric_inc(s->hits_disk);
		respond_file(c, cidbuf, hit.fd, hit.size);
		return;
	}
	if (rc == 1) /* on disk, not yet re-verified: the fetcher hashes it */
		metric_inc(s->hits_disk);
	else
		metric_inc(s->misses);
	start_fetch(c, cidbuf);
}

static void
handle_request(struct conn *c)
{
	struct http_request *r = &c->req;
	struct edge_server *s = c->t->s;
	const char *b = c->in + c->in_start;

	c->is_head = r->method == HTTP_M_HEAD;
	c->close_after = !r->keep_alive;
	if (r->method == HTTP_M_UNKNOWN) {
		respond_error(c, 501, "method not implemented", false);
		return;
	}
	if (r->method == HTTP_M_OTHER) {
		respond_text(c, 405, "Allow: GET, HEAD, OPTIONS\r\n", "405 Method Not Allowed\n",
		             false);
		return;
	}
	const char *p = b + r->target.off;
	size_t n = r->target.len;
	if (n >= 7 &&
	    (strncasecmp(p, "http://", 7) == 0 || (n >= 8 && strncasecmp(p, "https://", 8) == 0))) {
		size_t skip = p[4] == ':' ? 7 : 8;
		const char *slash = memchr(p + skip, '/', n - skip);
		if (slash == NULL) {
			p = "/";
			n = 1;
		} else {
			n -= (size_t)(slash - p);
			p = slash;
		}
	}
	if (p[0] != '/') {
		if (r->method == HTTP_M_OPTIONS && n == 1 && p[0] == '*') {
			respond_text(c, 204, "Allow: GET, HEAD, OPTIONS\r\n", NULL, false);
			return;
		}
		respond_error(c, 400, "bad request target", false);
		return;
	}
	const char *q = memchr(p, '?', n);
	if (q)
		n = (size_t)(q - p);
	if (r->method == HTTP_M_OPTIONS) {
		respond_text(c, 204,
		             "Allow: GET, HEAD, OPTIONS\r\nAccess-Control-Allow-Origin: *\r\n"
		             "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
		             "Access-Control-Allow-Headers: Range\r\n"
		             "Access-Control-Max-Age: 86400\r\n",
		             NULL, false);
		return;
	}
	if (n == 5 + CID_HEX_LEN + 3 && memcmp(p, "/seg/", 5) == 0 &&
	    memcmp(p + 5 + CID_HEX_LEN, ".ts", 3) == 0 && cid_valid_n(p + 5, CID_HEX_LEN)) {
		serve_seg(c, p + 5);
		return;
	}
	if (n == 8 && memcmp(p, "/healthz", 8) == 0) {
		if (atomic_load(&s->draining))
			respond_text(c, 503, NULL, "draining\n", false);
		else
			respond_text(c, 200, NULL, "ok\n", false);
		return;
	}
	if (n == 8 && memcmp(p, "/metrics", 8) == 0) {
		respond_metrics(c);
		return;
	}
	respond_error(c, 404, "no such resource", false);
}

static void
process_input(struct conn *c)
{
	while (c->state == C_READING && !c->closing) {
		enum http_parse_result r =
		        http_parse(&c->req, c->in + c->in_start, c->in_len - c->in_start);
		if (r == HTTP_PARSE_DONE) {
			handle_request(c);
			continue;
		}
		if (r == HTTP_PARSE_REJECT) {
			c->is_head = false;
			respond_error(c, c->req.status, c->req.reason, true);
			return;
		}
		uint32_t before = c->in_len - c->in_start;
		if (c->t->multishot)
			pull_held(c);
		else
			compact(c);
		if (c->in_len - c->in_start != before)
			continue;
		if (c->peer_closed) {
			conn_close(c);
			return;
		}
		arm_recv(c);
		return;
	}
}

static void
response_done(struct conn *c)
{
	release_response(c);
	c->last_us = time_mono_us();
	if (c->close_after || atomic_load_explicit(&c->t->s->draining, memory_order_relaxed)) {
		conn_close(c);
		return;
	}
	c->in_start += c->req.head_len;
	http_request_init(&c->req);
	if (c->in_start == c->in_len && can_move(c))
		c->in_start = c->in_len = 0;
	c->state = C_READING;
	process_input(c);
}

/* ---- completions ------------------------------------------------------ */

static void
schedule_rearm(struct conn *c)
{
	if (c->in_rearm)
		return;
	metric_inc(c->t->s->lim_nobufs);
	c->t->rearm_mark = c->t->bufs_returned;
	c->in_rearm = true;
	c->rearm_next = c->t->rearm;
	c->t->rearm = c;
}

static void
hold_buf(struct conn *c, uint16_t bid, uint32_t off, uint32_t len)
{
	struct ethread *t = c->t;
	if (c->held_n >= EDGE_HELD_MAX) {
		metric_inc(t->s->lim_pipeline);
		buf_return(t, bid);
		conn_close(c);
		return;
	}
	c->held_bid[c->held_n] = bid;
	c->held_off[c->held_n] = off;
	c->held_len[c->held_n] = len;
	c->held_n++;
	if (c->held_n >= EDGE_HELD_STOP && c->recv_armed && !c->recv_stopped) {
		struct io_uring_sqe *sqe = get_sqe(t);
		io_uring_prep_cancel64(sqe, ud(c, OP_RECV), 0);
		io_uring_sqe_set_data64(sqe, 0);
		c->recv_stopped = true;
	}
}

static void
on_recv(struct conn *c, struct io_uring_cqe *cqe)
{
	struct ethread *t = c->t;
	int res = cqe->res;
	bool more = t->multishot && (cqe->flags & IORING_CQE_F_MORE);

	if (!more)
		c->recv_armed = false;
	if (res > 0) {
		c->last_us = time_mono_us();
		if (t->multishot) {
			uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
			uint32_t len = (uint32_t)res;
			if (c->closing) {
				buf_return(t, bid);
			} else if (c->held_n > 0) {
				hold_buf(c, bid, 0, len);
			} else {
				if (c->in_len + len > EDGE_IN_BUF)
					compact(c);
				uint32_t space = EDGE_IN_BUF - c->in_len;
				uint32_t n = len < space ? len : space;
				memcpy(c->in + c->in_len, t->bufs + (size_t)bid * EDGE_BUF_SIZE, n);
				c->in_len += n;
				if (n == len)
					buf_return(t, bid);
				else
					hold_buf(c, bid, n, len - n);
			}
		} else {
			c->in_len += (uint32_t)res;
		}
	} else if (res == 0) {
		c->peer_closed = true;
	} else if (res == -ENOBUFS) {
		schedule_rearm(c);
	} else if (res == -EINVAL && t->multishot && !c->closing) {
		log_warn("multishot recv unsupported (%s); falling back to single-shot recv",
		         strerror(-res));
		t->multishot = false;
	} else if (res != -ECANCELED) {
		if (res != -ECONNRESET && res != -EPIPE)
			log_debug("recv: %s", strerror(-res));
		conn_close(c);
	}
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (c->state == C_READING) {
		process_input(c);
	} else {
		if (c->peer_closed && c->state == C_WAITING) {
			conn_close(c); /* nobody to answer */
			return;
		}
		if (!c->recv_armed && res != -ENOBUFS)
			arm_recv(c);
	}
}

static void
splice_in(struct conn *c)
{
	uint32_t n = c->file_left > c->pipe_cap ? c->pipe_cap : (uint32_t)c->file_left;
	struct io_uring_sqe *sqe = get_sqe(c->t);
	io_uring_prep_splice(sqe, c->file_fd, (int64_t)c->file_off, c->pipefd[1], -1, n, 0);
	io_uring_sqe_set_data64(sqe, ud(c, OP_SPLICE_IN));
	c->splice_busy = true;
}

static void
splice_out(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(c->t);
	io_uring_prep_splice(sqe, c->pipefd[0], -1, c->fd, -1, c->pipe_bytes, 0);
	io_uring_sqe_set_data64(sqe, ud(c, OP_SPLICE_OUT));
	c->splice_busy = true;
}

static void
on_send(struct conn *c, int res)
{
	c->send_busy = false;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (res < 0) {
		if (res == -EINTR || res == -EAGAIN) {
			submit_send(c);
			return;
		}
		conn_close(c);
		return;
	}
	metric_add(c->t->s->bytes_sent, (double)res);
	size_t left = (size_t)res;
	while (left > 0 && c->msg.msg_iovlen > 0) {
		struct iovec *v = c->msg.msg_iov;
		if (left >= v->iov_len) {
			left -= v->iov_len;
			c->msg.msg_iov++;
			c->msg.msg_iovlen--;
		} else {
			v->iov_base = (char *)v->iov_base + left;
			v->iov_len -= left;
			left = 0;
		}
	}
	while (c->msg.msg_iovlen > 0 && c->msg.msg_iov->iov_len == 0) {
		c->msg.msg_iov++;
		c->msg.msg_iovlen--;
	}
	if (c->msg.msg_iovlen > 0) {
		submit_send(c);
		return;
	}
	if (c->file_left > 0) {
		splice_in(c);
		return;
	}
	response_done(c);
}

static void
on_splice(struct conn *c, enum op op, int res)
{
	c->splice_busy = false;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (op == OP_SPLICE_OUT && res == -EAGAIN) {
		arm_pollout(c); /* the socket is O_NONBLOCK: wait for room, then go on */
		return;
	}
	if (res <= 0) {
		if (res < 0 && res != -EPIPE && res != -ECONNRESET)
			log_warn("splice: %s", strerror(-res));
		conn_close(c);
		return;
	}
	if (op == OP_SPLICE_IN) {
		c->file_off += (uint64_t)res;
		c->file_left -= (uint64_t)res;
		c->pipe_bytes = (uint32_t)res;
		splice_out(c);
		return;
	}
	metric_add(c->t->s->bytes_sent, (double)res);
	c->pipe_bytes -= (uint32_t)res;
	if (c->pipe_bytes > 0)
		splice_out(c);
	else if (c->file_left > 0)
		splice_in(c);
	else
		response_done(c);
}

static void
arm_accept(struct ethread *t)
{
	if (t->accept_armed || !t->accepting)
		return;
	struct io_uring_sqe *sqe = get_sqe(t);
	io_uring_prep_multishot_accept(sqe, t->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data64(sqe, ud(t, OP_ACCEPT));
	t->accept_armed = true;
}

static void
on_accept(struct ethread *t, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		t->accept_armed = false;
	if (cqe->res < 0) {
		if (cqe->res != -ECANCELED)
			log_warn("accept: %s (listener thread %d)", strerror(-cqe->res), t->idx);
		return; /* re-armed by the timer */
	}
	int fd = cqe->res;
	struct conn *c = t->accepting ? conn_alloc(t, fd) : NULL;
	if (c == NULL) {
		metric_inc(t->s->refused);
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	arm_recv(c);
	if (!t->accept_armed)
		arm_accept(t);
}

static void
arm_eventfd(struct ethread *t)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	io_uring_prep_read(sqe, t->efd, &t->efd_val, sizeof(t->efd_val), 0);
	io_uring_sqe_set_data64(sqe, ud(t, OP_EVENTFD));
}

static void
arm_timer(struct ethread *t)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	t->tick.tv_sec = 1;
	t->tick.tv_nsec = 0;
	io_uring_prep_timeout(sqe, &t->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ud(t, OP_TIMER));
}

static void
begin_drain(struct ethread *t)
{
	if (!t->accepting)
		return;
	t->accepting = false;
	t->drain_deadline = time_mono_us() + EDGE_DRAIN_US;
	if (t->accept_armed) {
		struct io_uring_sqe *sqe = get_sqe(t);
		io_uring_prep_cancel64(sqe, ud(t, OP_ACCEPT), 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
	close(t->lfd); /* new connections are refused from now on */
	t->lfd = -1;
	/* Idle keep-alive connections go now; busy ones after their response. */
	struct conn *c = t->active, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->state == C_READING && c->in_start == c->in_len && c->held_n == 0)
			conn_close(c);
	}
}

static void
handle_done(struct ethread *t, struct fetch_done *d)
{
	struct conn *c = d->conn;
	(void)t;
	if (c->magic == EDGE_CONN_MAGIC && c->gen == d->gen && c->state == C_WAITING &&
	    !c->closing) {
		c->state = C_READING;
		if (d->status == 200 && d->e) {
			struct cache_entry *e = d->e;
			d->e = NULL;
			respond_entry(c, e);
		} else if (d->status == 404) {
			respond_error(c, 404, "not found upstream", false);
		} else if (d->status == 503) {
			respond_error(c, 503, "busy", false);
		} else {
			respond_error(c, 502, "upstream failed or sent bytes that do not match",
			              false);
		}
	}
	cache_entry_put(&d->e);
}

static void
on_eventfd(struct ethread *t, int res)
{
	(void)res;
	pthread_mutex_lock(&t->dq.mu);
	struct fetch_done *d = t->dq.head;
	t->dq.head = t->dq.tail = NULL;
	pthread_mutex_unlock(&t->dq.mu);
	while (d) {
		struct fetch_done *next = d->next;
		handle_done(t, d);
		free(d);
		d = next;
	}
	if (atomic_load(&t->s->draining))
		begin_drain(t);
	arm_eventfd(t);
}

static void
on_timer(struct ethread *t)
{
	int64_t now = time_mono_us();
	update_date(t);
	if (atomic_load(&t->s->draining))
		begin_drain(t);
	struct conn *c = t->active, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->state != C_READING || c->closing)
			continue;
		int64_t lim = c->in_len > c->in_start ? EDGE_HEADER_US : EDGE_IDLE_US;
		if (now - c->last_us > lim)
			conn_close(c);
	}
	if (t->accepting && !t->accept_armed)
		arm_accept(t);
	if (t->rearm)
		process_rearm(t);
	arm_timer(t);
}

static void
handle_cqe(struct ethread *t, struct io_uring_cqe *cqe)
{
	uint64_t u = io_uring_cqe_get_data64(cqe);
	if (u == 0)
		return;
	enum op op = (enum op)(u & OP_MASK);
	void *p = (void *)(uintptr_t)(u & ~(uint64_t)OP_MASK);

	if (op == OP_ACCEPT || op == OP_EVENTFD || op == OP_TIMER) {
		struct ethread *tt = p;
		if (tt->magic != EDGE_THREAD_MAGIC)
			abort();
		if (op == OP_ACCEPT)
			on_accept(tt, cqe);
		else if (op == OP_EVENTFD)
			on_eventfd(tt, cqe->res);
		else
			on_timer(tt);
		return;
	}
	struct conn *c = p;
	if (c->magic != EDGE_CONN_MAGIC || c->t != t)
		abort(); /* a completion for a connection we freed: our bug */
	switch (op) {
	case OP_RECV:
		on_recv(c, cqe);
		break;
	case OP_SEND:
		on_send(c, cqe->res);
		break;
	case OP_SPLICE_IN:
	case OP_SPLICE_OUT:
		on_splice(c, op, cqe->res);
		break;
	case OP_POLLOUT:
		on_pollout(c, cqe->res);
		break;
	default:
		abort();
	}
}

static void
process_rearm(struct ethread *t)
{
	struct conn *c = t->rearm;
	t->rearm = NULL;
	while (c) {
		struct conn *next = c->rearm_next;
		c->in_rearm = false;
		c->rearm_next = NULL;
		if (!c->closing)
			arm_recv(c);
		c = next;
	}
}

/* ---- threads ------------------------------------------------------------ */

static int
setup_ring(struct ethread *t)
{
	struct io_uring_params p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	rc = io_uring_queue_init_params(EDGE_RING_ENTRIES, &t->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_COOP_TASKRUN;
		rc = io_uring_queue_init_params(EDGE_RING_ENTRIES, &t->ring, &p);
	}
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(EDGE_RING_ENTRIES, &t->ring, &p);
	}
	if (rc != 0) {
		log_error("io_uring_queue_init: %s (thread %d)", strerror(-rc), t->idx);
		return rc;
	}
	t->ring_ok = true;

	/* Provided buffer ring, or single-shot recv when the kernel lacks it. */
	t->multishot = false;
	const char *force = getenv("SLUICE_EDGE_RECV");
	struct io_uring_probe *probe = io_uring_get_probe_ring(&t->ring);
	bool have_ops = probe && io_uring_opcode_supported(probe, IORING_OP_RECV) &&
	                io_uring_opcode_supported(probe, IORING_OP_SPLICE);
	if (probe)
		io_uring_free_probe(probe);
	if (!have_ops) {
		log_error("io_uring lacks RECV/SPLICE; kernel too old");
		return -ENOSYS;
	}
	t->bufs = aligned_alloc(4096, (size_t)EDGE_BUF_COUNT * EDGE_BUF_SIZE);
	if (t->bufs == NULL)
		return -ENOMEM;
	if (force && strcmp(force, "single") == 0)
		return 0;
	t->br_len = EDGE_BUF_COUNT * sizeof(struct io_uring_buf);
	void *mem =
	        mmap(NULL, t->br_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (mem == MAP_FAILED) {
		t->br_len = 0;
		return 0;
	}
	t->br = mem;
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)t->br;
	reg.ring_entries = EDGE_BUF_COUNT;
	reg.bgid = EDGE_BGID;
	rc = io_uring_register_buf_ring(&t->ring, &reg, 0);
	if (rc != 0) {
		log_warn("io_uring_register_buf_ring: %s; using single-shot recv", strerror(-rc));
		munmap(t->br, t->br_len);
		t->br = NULL;
		t->br_len = 0;
		return 0;
	}
	io_uring_buf_ring_init(t->br);
	for (unsigned i = 0; i < EDGE_BUF_COUNT; i++)
		io_uring_buf_ring_add(t->br, t->bufs + (size_t)i * EDGE_BUF_SIZE, EDGE_BUF_SIZE,
		                      (unsigned short)i, io_uring_buf_ring_mask(EDGE_BUF_COUNT),
		                      (int)i);
	io_uring_buf_ring_advance(t->br, EDGE_BUF_COUNT);
	t->multishot = true;
	return 0;
}

static void
thread_cleanup(struct ethread *t)
{
	if (t->ring_ok) {
		io_uring_queue_exit(&t->ring);
		t->ring_ok = false;
	}
	/* The kernel holds nothing now: release every connection. */
	while (t->active) {
		struct conn *c = t->active;
		c->closing = true;
		c->recv_armed = c->send_busy = c->splice_busy = c->poll_busy = false;
		c->held_n = 0;
		conn_maybe_free(c);
	}
	while (t->free) {
		struct conn *c = t->free;
		t->free = c->next;
		free(c);
	}
	if (t->br) {
		munmap(t->br, t->br_len);
		t->br = NULL;
	}
	free(t->bufs);
	t->bufs = NULL;
}

static void *
thread_main(void *arg)
{
	struct ethread *t = arg;
	char name[16];

	snprintf(name, sizeof(name), "edge-ring-%d", t->idx);
	pthread_setname_np(pthread_self(), name);
	if (setup_ring(t) != 0)
		goto out;
	if (t->idx == 0)
		log_info("recv mode: %s; bodies >= %u KiB go out by sendfile (memfd-backed memory "
		         "tier) or io_uring splice (disk tier), smaller ones by one sendmsg",
		         t->multishot ? "multishot recv + provided buffer ring"
		                      : "single-shot recv into per-connection buffers",
		         EDGE_SPLICE_MIN >> 10);
	update_date(t);
	t->accepting = true;
	arm_accept(t);
	arm_eventfd(t);
	arm_timer(t);
	if (atomic_load(&t->s->draining))
		begin_drain(t);

	while (!t->exit) {
		int rc = io_uring_submit_and_wait(&t->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			log_error("io_uring_submit_and_wait: %s (thread %d)", strerror(-rc),
			          t->idx);
			break;
		}
		unsigned head, n = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(&t->ring, head, cqe)
		{
			handle_cqe(t, cqe);
			n++;
		}
		io_uring_cq_advance(&t->ring, n);
		if (t->rearm && t->bufs_returned != t->rearm_mark)
			process_rearm(t); /* else wait for buffers or the next tick */
		if (!t->accepting && (t->nconns == 0 || time_mono_us() > t->drain_deadline))
			t->exit = true;
	}
out:
	thread_cleanup(t);
	return NULL;
}

static void
deliver(void *sink, struct fetch_done *d)
{
	struct ethread *t = sink;
	uint64_t one = 1;

	d->next = NULL;
	pthread_mutex_lock(&t->dq.mu);
	if (t->dq.tail)
		t->dq.tail->next = d;
	else
		t->dq.head = d;
	t->dq.tail = d;
	pthread_mutex_unlock(&t->dq.mu);
	if (write(t->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("eventfd write: %s", strerror(errno));
}

static int
make_listener(const char *host, uint16_t port, int *out)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	struct sockaddr *sa;
	socklen_t sl;
	int fam, one = 1, fd = -1, rc = 0;

	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons(port);
		sa = (struct sockaddr *)&a4;
		sl = sizeof(a4);
		fam = AF_INET;
	} else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons(port);
		sa = (struct sockaddr *)&a6;
		sl = sizeof(a6);
		fam = AF_INET6;
	} else {
		return -EINVAL;
	}
	fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, sa, sl) != 0 || listen(fd, EDGE_LISTEN_BACKLOG) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static void
setup_metrics(struct edge_server *s)
{
	struct metrics *m = s->m;
	char lbl[32];
	for (int i = 0; i < ST_N; i++) {
		snprintf(lbl, sizeof(lbl), "status=\"%d\"", status_codes[i]);
		s->req[i] = metrics_counter(m, "sluice_edge_requests_total",
		                            "HTTP responses by status.", lbl);
	}
	s->hits_mem = metrics_counter(m, "sluice_edge_cache_hits_total", "Cache hits by tier.",
	                              "tier=\"mem\"");
	s->hits_disk = metrics_counter(m, "sluice_edge_cache_hits_total", "Cache hits by tier.",
	                               "tier=\"disk\"");
	s->misses = metrics_counter(m, "sluice_edge_cache_misses_total",
	                            "Segment requests not in any cache tier.", NULL);
	s->upstream = metrics_counter(m, "sluice_edge_upstream_requests_total",
	                              "Requests sent to upstreams.", NULL);
	s->verify = metrics_counter(m, "sluice_edge_verify_failures_total",
	                            "Upstream answers whose hash did not match the CID.", NULL);
	s->bytes_sent = metrics_counter(m, "sluice_edge_bytes_sent_total",
	                                "Bytes written to clients.", NULL);
	s->refused = metrics_counter(m, "sluice_edge_connections_refused_total",
	                             "Connections closed at accept (limit or draining).", NULL);
	s->lim_nobufs =
	        metrics_counter(m, "sluice_edge_limit_hits_total",
	                        "Limits hit: recv buffers exhausted, pipelined bytes over the cap.",
	                        "limit=\"recv_buffers\"");
	s->lim_pipeline =
	        metrics_counter(m, "sluice_edge_limit_hits_total",
	                        "Limits hit: recv buffers exhausted, pipelined bytes over the cap.",
	                        "limit=\"pipeline_bytes\"");
	s->conns_g = metrics_gauge(m, "sluice_edge_connections", "Open client connections.", NULL);
	s->cache_mem_g = metrics_gauge(m, "sluice_edge_cache_bytes", "Bytes cached by tier.",
	                               "tier=\"mem\"");
	s->cache_disk_g = metrics_gauge(m, "sluice_edge_cache_bytes", "Bytes cached by tier.",
	                                "tier=\"disk\"");
}

int
edge_server_new(const struct edge_server_config *cfg, struct edge_server **out)
{
	struct edge_server *s = NULL;
	int rc = 0;

	if (cfg->threads < 1 || cfg->threads > EDGE_MAX_THREADS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	s->cache = cfg->cache;
	s->m = cfg->metrics;
	atomic_init(&s->conns, 0);
	atomic_init(&s->draining, 0);
	setup_metrics(s);
	for (int i = 0; i < ST_N; i++)
		if (s->req[i] == NULL)
			rc = -ENOMEM;
	if (rc != 0 || !s->hits_mem || !s->hits_disk || !s->misses || !s->upstream || !s->verify ||
	    !s->bytes_sent || !s->refused || !s->lim_nobufs || !s->lim_pipeline || !s->conns_g ||
	    !s->cache_mem_g || !s->cache_disk_g) {
		rc = -ENOMEM;
		goto fail;
	}
	s->threads = aligned_alloc(EDGE_OBJ_ALIGN, (size_t)cfg->threads * sizeof(*s->threads));
	if (s->threads == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	memset(s->threads, 0, (size_t)cfg->threads * sizeof(*s->threads));
	for (int i = 0; i < cfg->threads; i++) {
		struct ethread *t = &s->threads[i];
		t->magic = EDGE_THREAD_MAGIC;
		t->idx = i;
		t->s = s;
		t->lfd = -1;
		t->efd = -1;
		pthread_mutex_init(&t->dq.mu, NULL);
	}
	s->nthreads = cfg->threads;
	for (int i = 0; i < cfg->threads; i++) {
		struct ethread *t = &s->threads[i];
		rc = make_listener(cfg->host, cfg->port, &t->lfd);
		if (rc != 0) {
			log_error("listen on %s:%u: %s", cfg->host, cfg->port, strerror(-rc));
			goto fail;
		}
		t->efd = eventfd(0, EFD_CLOEXEC);
		if (t->efd < 0) {
			rc = -errno;
			goto fail;
		}
	}
	struct fetch_config fc;
	memset(&fc, 0, sizeof(fc));
	for (int i = 0; i < cfg->nupstreams; i++)
		fc.upstreams[i] = cfg->upstreams[i];
	fc.nupstreams = cfg->nupstreams;
	fc.cache = cfg->cache;
	fc.deliver = deliver;
	fc.upstream_requests = s->upstream;
	fc.verify_failures = s->verify;
	rc = fetcher_new(&fc, &s->fetcher);
	if (rc != 0)
		goto fail;
	for (int i = 0; i < cfg->threads; i++) {
		struct ethread *t = &s->threads[i];
		rc = -pthread_create(&t->thr, NULL, thread_main, t);
		if (rc != 0)
			goto fail;
		t->started = true;
	}
	*out = s;
	return 0;
fail:
	edge_server_drain(s);
	edge_server_free(&s);
	return rc;
}

void
edge_server_stats(struct edge_server *s, struct edge_server_stats *out)
{
	out->connections = atomic_load(&s->conns);
	out->bytes_sent = (uint64_t)metric_value(s->bytes_sent);
	out->hits = (uint64_t)(metric_value(s->hits_mem) + metric_value(s->hits_disk));
	out->misses = (uint64_t)metric_value(s->misses);
}

void
edge_server_drain(struct edge_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->draining, 1);
	for (int i = 0; i < s->nthreads; i++) {
		struct ethread *t = &s->threads[i];
		uint64_t one = 1;
		if (t->efd >= 0 && write(t->efd, &one, sizeof(one)) < 0)
			log_warn("eventfd write: %s", strerror(errno));
	}
	for (int i = 0; i < s->nthreads; i++) {
		struct ethread *t = &s->threads[i];
		if (t->started) {
			pthread_join(t->thr, NULL);
			t->started = false;
		}
	}
}

void
edge_server_free(struct edge_server **sp)
{
	struct edge_server *s = *sp;
	if (s == NULL)
		return;
	*sp = NULL;
	edge_server_drain(s);
	fetcher_free(&s->fetcher); /* answers its waiters into the (dead) threads' queues */
	for (int i = 0; i < s->nthreads; i++) {
		struct ethread *t = &s->threads[i];
		struct fetch_done *d = t->dq.head;
		while (d) {
			struct fetch_done *next = d->next;
			cache_entry_put(&d->e);
			free(d);
			d = next;
		}
		if (t->lfd >= 0)
			close(t->lfd);
		if (t->efd >= 0)
			close(t->efd);
		pthread_mutex_destroy(&t->dq.mu);
	}
	free(s->threads);
	free(s);
}
