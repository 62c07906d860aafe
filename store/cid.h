/*
 * cid.h — content identifiers: lowercase hex SHA-256 of a segment's bytes.
 *
 * Pure (libcrypto EVP). A hasher is owned by its caller and used by one
 * thread at a time. Functions return 0 or a negative errno (-ENOMEM, -EIO
 * when libcrypto fails).
 */
#ifndef SLUICE_CID_H
#define SLUICE_CID_H

#include <stdbool.h>
#include <stddef.h>

#define CID_HEX_LEN 64          /* characters, without NUL */
#define CID_BUF_LEN 65          /* with NUL */

struct cid_hasher {
	void *ctx;                  /* EVP_MD_CTX *, NULL when not started */
};

int cid_hasher_init(struct cid_hasher *h);
int cid_hasher_update(struct cid_hasher *h, const void *buf, size_t len);
/* Writes 64 hex chars + NUL into out and releases the context. */
int cid_hasher_final(struct cid_hasher *h, char out[CID_BUF_LEN]);
/* Release without a result (safe on a never-started or finished hasher). */
void cid_hasher_abort(struct cid_hasher *h);

/* One-shot hash of a buffer. */
int cid_of(const void *buf, size_t len, char out[CID_BUF_LEN]);

/* True for exactly 64 lowercase hex characters followed by NUL (or by len). */
bool cid_valid(const char *s);
bool cid_valid_n(const char *s, size_t len);

#endif
