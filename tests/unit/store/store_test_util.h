/*
 * store_test_util.h — temp-dir fixtures shared by the store unit tests
 * (header-only: each test file is its own binary).
 */
#ifndef SLUICE_STORE_TEST_UTIL_H
#define SLUICE_STORE_TEST_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

struct fixture {
	char dir[256];
	struct store *s;
};

static inline int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int
fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char tmpl[] = "/tmp/sluice-store-test.XXXXXX";

	if (f == NULL || mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/store", tmpl);
	if (store_open(f->dir, STORE_OPEN_CREATE, &f->s) != 0)
		return -1;
	*state = f;
	return 0;
}

static inline int
fx_teardown(void **state)
{
	struct fixture *f = *state;
	char *slash;

	store_close(&f->s);
	slash = strrchr(f->dir, '/');
	*slash = '\0';
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* A record of stream/variant at start (seconds), duration (seconds). */
static inline void
mkrec(struct store_record *r, const char *stream, const char *variant, int64_t start_s,
      int64_t dur_s, const char *cid)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->stream, sizeof(r->stream), "%s", stream);
	snprintf(r->variant, sizeof(r->variant), "%s", variant);
	r->start_us = start_s * 1000000LL;
	r->duration_us = dur_s * 1000000LL;
	snprintf(r->cid, sizeof(r->cid), "%s", cid);
}

/* Store a blob holding text; returns its cid in out. */
static inline void
put_text(struct store *s, const char *text, char out[CID_BUF_LEN])
{
	int rc = store_blob_put(s, text, strlen(text), NULL, out, NULL);

	if (rc != 0) {
		fprintf(stderr, "put_text: %d\n", rc);
		abort();
	}
}

#endif
