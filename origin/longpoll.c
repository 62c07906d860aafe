/*
 * longpoll.c — parked change-feed connections and their waiter thread.
 *
 * Model: lp->w[0..n) parked entries under lp->mu. The waiter sleeps on
 * lp->cv while nothing is parked; otherwise every LONGPOLL_POLL_MS it reads
 * the last seq (outside the lock), then under the lock resumes and removes
 * the entries that are due. MHD_suspend_connection is called under lp->mu
 * in the handler and MHD_resume_connection under lp->mu in the waiter, so
 * an entry is never resumed before it was suspended.
 */
#include "origin/longpoll.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "store/store.h"

struct lp_wait {
	struct MHD_Connection *conn;
	uint64_t since;
	int64_t deadline_us;
};

struct longpoll {
	struct store *store;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* guarded by mu */
	bool stop;
	size_t n, cap;
	struct lp_wait *w;
};

/* Resume and drop the entries that are due (all when force). Called under mu. */
static void
resume_due(struct longpoll *lp, bool have_last, uint64_t last, bool force)
{
	int64_t now = time_mono_us();
	size_t k = 0;

	for (size_t i = 0; i < lp->n; i++) {
		struct lp_wait *w = &lp->w[i];
		if (force || now >= w->deadline_us || (have_last && last > w->since)) {
			MHD_resume_connection(w->conn);
			continue;
		}
		lp->w[k++] = *w;
	}
	lp->n = k;
}

static void *
waiter(void *arg)
{
	struct longpoll *lp = arg;
	uint64_t last = 0;
	bool have = false;

	pthread_mutex_lock(&lp->mu);
	while (!lp->stop) {
		struct timespec ts;
		if (lp->n == 0) {
			pthread_cond_wait(&lp->cv, &lp->mu);
			continue;
		}
		pthread_mutex_unlock(&lp->mu);
		have = store_last_seq(lp->store, &last) == 0;
		pthread_mutex_lock(&lp->mu);
		resume_due(lp, have, last, false);
		if (lp->stop || lp->n == 0)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)LONGPOLL_POLL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&lp->cv, &lp->mu, &ts);
	}
	resume_due(lp, false, 0, true);
	pthread_mutex_unlock(&lp->mu);
	return NULL;
}

int
longpoll_new(struct store *s, struct longpoll **out)
{
	struct longpoll *lp = calloc(1, sizeof(*lp));
	int rc;

	*out = NULL;
	if (lp == NULL)
		return -ENOMEM;
	lp->store = s;
	pthread_mutex_init(&lp->mu, NULL);
	pthread_cond_init(&lp->cv, NULL);
	rc = pthread_create(&lp->thread, NULL, waiter, lp);
	if (rc != 0) {
		pthread_cond_destroy(&lp->cv);
		pthread_mutex_destroy(&lp->mu);
		free(lp);
		return -rc;
	}
	lp->started = true;
	*out = lp;
	return 0;
}

void
longpoll_stop(struct longpoll *lp)
{
	if (lp == NULL)
		return;
	pthread_mutex_lock(&lp->mu);
	lp->stop = true;
	pthread_cond_signal(&lp->cv);
	pthread_mutex_unlock(&lp->mu);
	if (lp->started) {
		pthread_join(lp->thread, NULL);
		lp->started = false;
	}
}

void
longpoll_free(struct longpoll **plp)
{
	struct longpoll *lp;

	if (plp == NULL || *plp == NULL)
		return;
	lp = *plp;
	longpoll_stop(lp);
	free(lp->w);
	pthread_cond_destroy(&lp->cv);
	pthread_mutex_destroy(&lp->mu);
	free(lp);
	*plp = NULL;
}

int
longpoll_park(struct longpoll *lp, struct MHD_Connection *conn, uint64_t since,
              int64_t deadline_us)
{
	int rc = 0;

	pthread_mutex_lock(&lp->mu);
	if (lp->stop) {
		rc = -ESHUTDOWN;
		goto out;
	}
	if (lp->n == lp->cap) {
		size_t cap = lp->cap ? lp->cap * 2 : 16;
		struct lp_wait *nw;
		if (lp->n >= LONGPOLL_MAX) {
			rc = -ENOMEM;
			goto out;
		}
		nw = realloc(lp->w, cap * sizeof(*nw));
		if (nw == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		lp->w = nw;
		lp->cap = cap;
	}
	MHD_suspend_connection(conn);
	lp->w[lp->n].conn = conn;
	lp->w[lp->n].since = since;
	lp->w[lp->n].deadline_us = deadline_us;
	lp->n++;
	if (lp->n == 1)
		pthread_cond_signal(&lp->cv);
out:
	pthread_mutex_unlock(&lp->mu);
	return rc;
}
