/*
 * longpoll.h — parked change-feed requests (GET /store/v1/changes?wait=S).
 *
 * Owns: the list of suspended MHD connections that wait for a store change,
 * and one waiter thread. A handler that finds no change parks its
 * connection (MHD_suspend_connection) with the seq it waits past and a
 * deadline; the waiter reads store_last_seq every LONGPOLL_POLL_MS (one
 * short read transaction, none held while waiting) and resumes every parked
 * connection whose seq was passed or whose deadline came, so MHD calls the
 * handler again, which then answers without waiting. No HTTP thread ever
 * blocks on a long poll.
 *
 * Threading: park from any MHD thread (inside the access handler); the
 * waiter resumes from its own thread. longpoll_stop resumes everything and
 * joins the waiter; parking after it fails with -ESHUTDOWN (answer at once).
 * Errors: -ENOMEM, -ESHUTDOWN, -EAGAIN (thread start).
 */
#ifndef SLUICE_ORIGIN_LONGPOLL_H
#define SLUICE_ORIGIN_LONGPOLL_H

#include <stdint.h>

#define LONGPOLL_POLL_MS 50             /* store_last_seq polling period */
#define LONGPOLL_MAX     65536          /* parked connections at once */

struct store;
struct MHD_Connection;
struct longpoll;

int longpoll_new(struct store *s, struct longpoll **out);
/* Resume every parked connection and join the waiter (idempotent). */
void longpoll_stop(struct longpoll *lp);
/* longpoll_stop, then free; sets *lp = NULL; NULL-safe. */
void longpoll_free(struct longpoll **lp);
/*
 * Suspend conn (call from its access handler) until the store's last change
 * seq exceeds since or the monotonic clock reaches deadline_us.
 */
int longpoll_park(struct longpoll *lp, struct MHD_Connection *conn, uint64_t since,
                  int64_t deadline_us);

#endif
