/*
 * server.c — ring threads, connections, per-IP accounting.
 *
 * Model. struct canvas_server owns the listening socket, the per-IP table
 * and `threads` struct cthread. Each cthread owns an io_uring (multishot
 * accept on the shared listener) and a doubly linked list of struct conn.
 * user_data = conn or cthread pointer | op tag in the low 2 bits; every
 * pointer coming back is magic-checked.
 *
 * A connection: in[] holds received bytes [in_off, in_len); a single-shot
 * recv fills in[in_len, CANVAS_IN_BUF). After each recv we parse every
 * complete line, write pixels into the framebuffer, append replies to
 * out[] (sent by one send at a time). When out[] has less than
 * PX_REPLY_MAX free, parsing pauses (no recv is armed) until the send
 * completes: that bounds reply memory and pushes back on the player. The
 * partial last line is moved to the front before the next recv; more than
 * PX_LINE_MAX bytes without a newline closes the connection.
 *
 * Closing: shutdown(2) makes an in-flight recv complete; the conn is freed
 * (fd closed, IP slot released) once neither recv nor send is in flight. At
 * thread end the ring is torn down first (the kernel then holds nothing),
 * then the remaining conns are freed.
 *
 * Per-IP table: fixed slots under a mutex, touched at accept and close
 * only; a conn holds its slot, whose pixel/byte counters are relaxed
 * atomics bumped once per recv. A slot is reused when its last conn goes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "canvas/fb.h"
#include "canvas/px_parse.h"
#include "canvas/server.h"
#include "common/log.h"
#include "common/metrics.h"

#define CONN_MAGIC 0x43504958u      /* "CPIX" */
#define THREAD_MAGIC 0x43544852u    /* "CTHR" */
#define CANVAS_IN_BUF (64u * 1024)
#define CANVAS_OUT_BUF (16u * 1024)
#define CANVAS_RING_ENTRIES 1024
#define CANVAS_IP_SLOTS 4096
#define CANVAS_MAX_CONNS 8192       /* per thread */
#define CANVAS_WAIT_NS (200 * 1000 * 1000L)
#define CANVAS_BACKLOG 1024
#define OP_MASK 3ull

_Static_assert(CANVAS_IN_BUF > 2 * PX_LINE_MAX, "input buffer must hold a long line");

enum op { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

struct ip_slot {
	bool used;
	int conns;
	unsigned char addr[16];     /* IPv6 or v4-mapped */
	_Atomic uint64_t pixels;
	_Atomic uint64_t bytes;
};

struct canvas_server;

struct cthread {
	uint32_t magic;
	int idx;
	struct canvas_server *s;
	struct io_uring ring;
	bool ring_ok, accept_armed;
	pthread_t tid;
	bool started;
	struct conn *conns;
	int nconns;
};

struct conn {
	uint32_t magic;
	struct cthread *t;
	struct conn *prev, *next;
	int fd;
	struct ip_slot *ip;
	uint32_t offx, offy;
	bool recv_busy, send_busy, closing;
	size_t in_off, in_len, out_off, out_len, send_len;
	char in[CANVAS_IN_BUF];
	char out[CANVAS_OUT_BUF];
};

struct canvas_server {
	struct canvas_server_config cfg;
	int lfd;
	_Atomic bool stop;
	_Atomic int64_t nconns;
	pthread_mutex_t ip_mu;
	struct ip_slot ips[CANVAS_IP_SLOTS];
	int nthreads;
	struct cthread th[CANVAS_THREADS_MAX];
	struct metric *m_pixels, *m_bytes, *m_conns, *m_accepted, *m_bad, *m_oor, *m_reads,
	        *m_close_long, *m_close_ip, *m_refused;
};

/* ---- per-IP table ------------------------------------------------------- */

static void
peer_addr(int fd, unsigned char out[16])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(out, 0, 16);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	}
}

/* Slot for addr with one more conn, or NULL (limit reached / table full). */
static struct ip_slot *
ip_acquire(struct canvas_server *s, const unsigned char addr[16], bool *over_limit)
{
	struct ip_slot *hit = NULL, *empty = NULL;
	int i;

	*over_limit = false;
	pthread_mutex_lock(&s->ip_mu);
	for (i = 0; i < CANVAS_IP_SLOTS; i++) {
		struct ip_slot *sl = &s->ips[i];
		if (sl->used && memcmp(sl->addr, addr, 16) == 0) {
			hit = sl;
			break;
		}
		if (!sl->used && empty == NULL)
			empty = sl;
	}
	if (hit != NULL) {
		if (hit->conns >= s->cfg.max_conns_per_ip) {
			*over_limit = true;
			hit = NULL;
		} else {
			hit->conns++;
		}
	} else if (empty != NULL) {
		hit = empty;
		hit->used = true;
		hit->conns = 1;
		memcpy(hit->addr, addr, 16);
		atomic_store_explicit(&hit->pixels, 0, memory_order_relaxed);
		atomic_store_explicit(&hit->bytes, 0, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->ip_mu);
	return hit;
}

static void
ip_release(struct canvas_server *s, struct ip_slot *sl)
{
	pthread_mutex_lock(&s->ip_mu);
	if (--sl->conns == 0)
		sl->used = false;
	pthread_mutex_unlock(&s->ip_mu);
}

static void
format_ip(const unsigned char a[16], char *buf, size_t len)
{
	static const unsigned char v4pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(a, v4pre, 12) == 0)
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

int
canvas_server_render_top(struct canvas_server *s, char **buf, size_t *len)
{
	struct { unsigned char addr[16]; uint64_t px, by; } top[CANVAS_TOP_TALKERS];
	size_t ntop = 0, j, need;
	char ip[INET6_ADDRSTRLEN], line[256], *nb;
	int i, n;

	pthread_mutex_lock(&s->ip_mu);
	for (i = 0; i < CANVAS_IP_SLOTS; i++) {
		struct ip_slot *sl = &s->ips[i];
		uint64_t px;
		if (!sl->used)
			continue;
		px = atomic_load_explicit(&sl->pixels, memory_order_relaxed);
		if (ntop == CANVAS_TOP_TALKERS && top[ntop - 1].px >= px)
			continue;
		j = ntop < CANVAS_TOP_TALKERS ? ntop++ : ntop - 1;
		while (j > 0 && top[j - 1].px < px) {
			top[j] = top[j - 1];
			j--;
		}
		memcpy(top[j].addr, sl->addr, 16);
		top[j].px = px;
		top[j].by = atomic_load_explicit(&sl->bytes, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->ip_mu);

	for (j = 0; j <= ntop * 2 + 1; j++) {
		if (j == 0)
			n = snprintf(line, sizeof(line), "# HELP sluice_canvas_ip_pixels Pixels "
			             "painted by a connected IP (top %d).\n# TYPE "
			             "sluice_canvas_ip_pixels gauge\n", CANVAS_TOP_TALKERS);
		else if (j <= ntop) {
			format_ip(top[j - 1].addr, ip, sizeof(ip));
			n = snprintf(line, sizeof(line), "sluice_canvas_ip_pixels{ip=\"%s\"} %llu\n",
			             ip, (unsigned long long)top[j - 1].px);
		} else if (j == ntop + 1)
			n = snprintf(line, sizeof(line), "# HELP sluice_canvas_ip_bytes Bytes "
			             "received from a connected IP (top %d by pixels).\n# TYPE "
			             "sluice_canvas_ip_bytes gauge\n", CANVAS_TOP_TALKERS);
		else {
			format_ip(top[j - ntop - 2].addr, ip, sizeof(ip));
			n = snprintf(line, sizeof(line), "sluice_canvas_ip_bytes{ip=\"%s\"} %llu\n",
			             ip, (unsigned long long)top[j - ntop - 2].by);
		}
		if (n < 0)
			continue;
		need = *len + (size_t)n + 1;
		nb = realloc(*buf, need);
		if (nb == NULL)
			return -ENOMEM;
		memcpy(nb + *len, line, (size_t)n + 1);
		*buf = nb;
		*len += (size_t)n;
	}
	return 0;
}

/* ---- ring helpers ------------------------------------------------------- */

static inline uint64_t
ud(void *p, enum op o)
{
	return (uint64_t)(uintptr_t)p | (uint64_t)o;
}

static struct io_uring_sqe *
get_sqe(struct cthread *t)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);

	if (sqe == NULL) {
		io_uring_submit(&t->ring);
		sqe = io_uring_get_sqe(&t->ring);
	}
	return sqe; /* the ring has room after a submit: entries >= 2 per conn op */
}

static void
arm_accept(struct cthread *t)
{
	struct io_uring_sqe *sqe;

	if (t->accept_armed || atomic_load(&t->s->stop))
		return;
	sqe = get_sqe(t);
	io_uring_prep_multishot_accept(sqe, t->s->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud(t, OP_ACCEPT));
	t->accept_armed = true;
}

static void
arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(c->t);

	io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, CANVAS_IN_BUF - c->in_len, 0);
	io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
	c->recv_busy = true;
}

static void
arm_send(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(c->t);

	c->send_len = c->out_len - c->out_off;
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->send_len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
	c->send_busy = true;
}

/* ---- connections -------------------------------------------------------- */

static void
conn_free(struct conn *c)
{
	struct cthread *t = c->t;
	int64_t n;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	t->nconns--;
	close(c->fd);
	ip_release(t->s, c->ip);
	n = atomic_fetch_sub(&t->s->nconns, 1) - 1;
	metric_set(t->s->m_conns, (double)n);
	c->magic = 0;
	free(c);
}

static void
conn_close(struct conn *c)
{
	if (!c->closing) {
		c->closing = true;
		shutdown(c->fd, SHUT_RDWR);
	}
	if (!c->recv_busy && !c->send_busy)
		conn_free(c);
}

/*
 * Parse every complete line in the input buffer. Returns false when the
 * connection was closed (c is gone).
 */
static bool
conn_process(struct conn *c)
{
	struct canvas_server *s = c->t->s;
	struct fb *fb = s->cfg.fb;
	const uint32_t w = fb->w, h = fb->h;
	uint64_t px = 0, bad = 0, oor = 0, reads = 0;
	bool paused = false;
	struct px_cmd cmd;
	size_t used, hl;
	const char *help;
	uint32_t x, y;

	if (!c->send_busy && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	while (c->in_off < c->in_len) {
		if (CANVAS_OUT_BUF - c->out_len < PX_REPLY_MAX) {
			paused = true;
			break;
		}
		enum px_result r = px_parse(c->in + c->in_off, c->in_len - c->in_off, &cmd, &used);
		if (r == PX_MORE)
			break;
		c->in_off += used;
		if (r == PX_REJECT) {
			bad++;
			continue;
		}
		switch (cmd.op) {
		case PX_OP_SET:
		case PX_OP_BLEND:
		case PX_OP_GET:
			x = cmd.x + c->offx;
			y = cmd.y + c->offy;
			if (x >= w || y >= h) {
				oor++;
				break;
			}
			if (cmd.op == PX_OP_SET) {
				fb_set(fb, x, y, cmd.rgba >> 8);
				px++;
			} else if (cmd.op == PX_OP_BLEND) {
				fb_blend(fb, x, y, cmd.rgba);
				px++;
			} else {
				c->out_len += px_format_px(c->out + c->out_len, x, y, fb_get(fb, x, y));
				reads++;
			}
			break;
		case PX_OP_SIZE:
			c->out_len += px_format_size(c->out + c->out_len, w, h);
			break;
		case PX_OP_HELP:
			help = px_help_text(&hl);
			memcpy(c->out + c->out_len, help, hl);
			c->out_len += hl;
			break;
		case PX_OP_OFFSET:
			c->offx = cmd.x;
			c->offy = cmd.y;
			break;
		}
	}
	if (px != 0) {
		metric_add(s->m_pixels, (double)px);
		atomic_fetch_add_explicit(&c->ip->pixels, px, memory_order_relaxed);
	}
	if (bad != 0)
		metric_add(s->m_bad, (double)bad);
	if (oor != 0)
		metric_add(s->m_oor, (double)oor);
	if (reads != 0)
		metric_add(s->m_reads, (double)reads);
	if (c->in_len - c->in_off > PX_LINE_MAX) {
		metric_inc(s->m_close_long);
		conn_close(c);
		return false;
	}
	if (c->out_len > c->out_off && !c->send_busy)
		arm_send(c);
	if (!paused && !c->recv_busy && !c->closing) {
		if (c->in_off > 0) {
			memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
			c->in_len -= c->in_off;
			c->in_off = 0;
		}
		arm_recv(c);
	}
	return true;
}

static void
on_recv(struct conn *c, int res)
{
	c->recv_busy = false;
	if (c->closing || res <= 0) {
		if (res < 0 && res != -ECONNRESET && res != -ECANCELED && !c->closing)
			log_debug("recv: %s (fd %d)", strerror(-res), c->fd);
		conn_close(c);
		return;
	}
	c->in_len += (size_t)res;
	metric_add(c->t->s->m_bytes, (double)res);
	atomic_fetch_add_explicit(&c->ip->bytes, (uint64_t)res, memory_order_relaxed);
	conn_process(c);
}

static void
on_send(struct conn *c, int res)
{
	c->send_busy = false;
	if (c->closing || res <= 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)res;
	if (c->out_off < c->out_len) {
		arm_send(c);
		return;
	}
	/* Drained: resume parsing (it may have paused on a full out[]). */
	if (!c->recv_busy)
		conn_process(c);
}

static void
on_accept(struct cthread *t, int res, unsigned flags)
{
	struct canvas_server *s = t->s;
	unsigned char addr[16];
	struct ip_slot *sl;
	struct conn *c;
	bool over;
	int one = 1, fd = res;
	int64_t n;

	if (!(flags & IORING_CQE_F_MORE))
		t->accept_armed = false;
	if (res < 0) {
		if (res != -ECANCELED)
			log_warn("accept: %s (thread %d)", strerror(-res), t->idx);
		arm_accept(t);
		return;
	}
	arm_accept(t);
	metric_inc(s->m_accepted);
	if (atomic_load(&s->stop) || t->nconns >= CANVAS_MAX_CONNS) {
		metric_inc(s->m_refused);
		close(fd);
		return;
	}
	peer_addr(fd, addr);
	sl = ip_acquire(s, addr, &over);
	if (sl == NULL) {
		metric_inc(over ? s->m_close_ip : s->m_refused);
		close(fd);
		return;
	}
	c = malloc(sizeof(*c));
	if (c == NULL) {
		ip_release(s, sl);
		metric_inc(s->m_refused);
		close(fd);
		return;
	}
	c->magic = CONN_MAGIC;
	c->t = t;
	c->fd = fd;
	c->ip = sl;
	c->offx = c->offy = 0;
	c->recv_busy = c->send_busy = c->closing = false;
	c->in_off = c->in_len = c->out_off = c->out_len = c->send_len = 0;
	c->prev = NULL;
	c->next = t->conns;
	if (t->conns != NULL)
		t->conns->prev = c;
	t->conns = c;
	t->nconns++;
	n = atomic_fetch_add(&s->nconns, 1) + 1;
	metric_set(s->m_conns, (double)n);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	arm_recv(c);
}

static void
handle_cqe(struct cthread *t, const struct io_uring_cqe *cqe)
{
	uint64_t u = io_uring_cqe_get_data64(cqe);
	enum op o = (enum op)(u & OP_MASK);
	void *p = (void *)(uintptr_t)(u & ~OP_MASK);
	struct conn *c;

	(void)t; /* the accept's own thread pointer comes back in user_data */
	if (u == 0)
		return;
	if (o == OP_ACCEPT) {
		struct cthread *ct = p;
		if (ct->magic != THREAD_MAGIC)
			abort();
		on_accept(ct, cqe->res, cqe->flags);
		return;
	}
	c = p;
	if (c->magic != CONN_MAGIC)
		abort();
	if (o == OP_RECV)
		on_recv(c, cqe->res);
	else
		on_send(c, cqe->res);
}

static void *
thread_main(void *arg)
{
	struct cthread *t = arg;
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = CANVAS_WAIT_NS };
	struct io_uring_cqe *cqe;
	unsigned head, seen;
	char name[16];
	int r;

	snprintf(name, sizeof(name), "canvas-ring-%d", t->idx);
	pthread_setname_np(pthread_self(), name);
	arm_accept(t);
	while (!atomic_load(&t->s->stop)) {
		io_uring_submit(&t->ring);
		r = io_uring_wait_cqe_timeout(&t->ring, &cqe, &ts);
		if (r < 0 && r != -ETIME && r != -EINTR) {
			log_error("io_uring wait: %s (thread %d)", strerror(-r), t->idx);
			break;
		}
		seen = 0;
		io_uring_for_each_cqe(&t->ring, head, cqe) {
			handle_cqe(t, cqe);
			seen++;
		}
		io_uring_cq_advance(&t->ring, seen);
		if (!t->accept_armed)
			arm_accept(t);
	}
	/* Tear the ring down first: the kernel then owns nothing of ours. */
	io_uring_queue_exit(&t->ring);
	t->ring_ok = false;
	while (t->conns != NULL) {
		t->conns->recv_busy = t->conns->send_busy = false;
		conn_free(t->conns);
	}
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int
listen_on(const char *host, uint16_t port, int *out)
{
	struct addrinfo hints, *ai = NULL;
	char ps[8];
	int fd = -1, one = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	r = getaddrinfo(host, ps, &hints, &ai);
	if (r != 0) {
		log_error("listen \"%s\": %s", host, gai_strerror(r));
		r = -EINVAL;
		goto out;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, CANVAS_BACKLOG) != 0) {
		r = -errno;
		log_error("listen %s:%u: %s", host, (unsigned)port, strerror(-r));
		goto out;
	}
	*out = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

int
canvas_server_start(const struct canvas_server_config *cfg, struct canvas_server **out)
{
	struct canvas_server *s;
	struct metrics *m = cfg->metrics;
	int r, i;

	if (cfg->threads < 1 || cfg->threads > CANVAS_THREADS_MAX || cfg->max_conns_per_ip < 1 ||
	    cfg->fb == NULL)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	s->lfd = -1;
	pthread_mutex_init(&s->ip_mu, NULL);
	s->m_pixels = metrics_counter(m, "sluice_canvas_pixels_total", "Pixels painted.", NULL);
	s->m_bytes = metrics_counter(m, "sluice_canvas_bytes_total", "Bytes received.", NULL);
	s->m_conns = metrics_gauge(m, "sluice_canvas_connections", "Open connections.", NULL);
	s->m_accepted = metrics_counter(m, "sluice_canvas_accepted_total",
	                                "Connections accepted.", NULL);
	s->m_bad = metrics_counter(m, "sluice_canvas_bad_lines_total",
	                           "Lines rejected by the parser.", NULL);
	s->m_oor = metrics_counter(m, "sluice_canvas_out_of_range_total",
	                           "PX commands outside the canvas.", NULL);
	s->m_reads = metrics_counter(m, "sluice_canvas_reads_total", "PX read-backs.", NULL);
	s->m_close_long = metrics_counter(m, "sluice_canvas_closed_total",
	                                  "Connections closed by the server.",
	                                  "reason=\"line_too_long\"");
	s->m_close_ip = metrics_counter(m, "sluice_canvas_closed_total",
	                                "Connections closed by the server.",
	                                "reason=\"per_ip_limit\"");
	s->m_refused = metrics_counter(m, "sluice_canvas_closed_total",
	                               "Connections closed by the server.",
	                               "reason=\"refused\"");
	metric_set(s->m_conns, 0);
	r = listen_on(cfg->host, cfg->port, &s->lfd);
	if (r < 0)
		goto fail;
	for (i = 0; i < cfg->threads; i++) {
		struct cthread *t = &s->th[i];
		t->magic = THREAD_MAGIC;
		t->idx = i;
		t->s = s;
		r = io_uring_queue_init(CANVAS_RING_ENTRIES, &t->ring, 0);
		if (r < 0) {
			log_error("io_uring_queue_init: %s (thread %d)", strerror(-r), i);
			goto fail;
		}
		t->ring_ok = true;
		s->nthreads = i + 1;
	}
	for (i = 0; i < s->nthreads; i++) {
		r = -pthread_create(&s->th[i].tid, NULL, thread_main, &s->th[i]);
		if (r < 0)
			goto fail;
		s->th[i].started = true;
	}
	*out = s;
	return 0;
fail:
	canvas_server_stop(&s);
	return r;
}

void
canvas_server_stop(struct canvas_server **sp)
{
	struct canvas_server *s = *sp;
	int i;

	if (s == NULL)
		return;
	atomic_store(&s->stop, true);
	for (i = 0; i < s->nthreads; i++) {
		if (s->th[i].started)
			pthread_join(s->th[i].tid, NULL);
		else if (s->th[i].ring_ok)
			io_uring_queue_exit(&s->th[i].ring);
	}
	if (s->lfd >= 0)
		close(s->lfd);
	pthread_mutex_destroy(&s->ip_mu);
	free(s);
	*sp = NULL;
}
