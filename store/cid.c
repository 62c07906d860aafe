/*
 * cid.c — SHA-256 content identifiers through libcrypto's EVP interface.
 *
 * Model: a cid_hasher wraps one EVP_MD_CTX (ctx NULL when idle). init
 * allocates it, final/abort free it, so a hasher never leaks on any path
 * that ends in final or abort.
 */
#include "store/cid.h"

#include <errno.h>

#include <openssl/evp.h>

#define CID_RAW_LEN 32

int
cid_hasher_init(struct cid_hasher *h)
{
	EVP_MD_CTX *ctx;

	h->ctx = NULL;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	h->ctx = ctx;
	return 0;
}

int
cid_hasher_update(struct cid_hasher *h, const void *buf, size_t len)
{
	if (h->ctx == NULL)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (EVP_DigestUpdate(h->ctx, buf, len) != 1)
		return -EIO;
	return 0;
}

int
cid_hasher_final(struct cid_hasher *h, char out[CID_BUF_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc = 0;

	if (h->ctx == NULL)
		return -EINVAL;
	if (EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen != CID_RAW_LEN) {
		rc = -EIO;
		goto out;
	}
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[CID_HEX_LEN] = '\0';
out:
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	return rc;
}

void
cid_hasher_abort(struct cid_hasher *h)
{
	if (h->ctx != NULL)
		EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int
cid_of(const void *buf, size_t len, char out[CID_BUF_LEN])
{
	struct cid_hasher h;
	int rc;

	rc = cid_hasher_init(&h);
	if (rc != 0)
		return rc;
	rc = cid_hasher_update(&h, buf, len);
	if (rc != 0) {
		cid_hasher_abort(&h);
		return rc;
	}
	return cid_hasher_final(&h, out);
}

bool
cid_valid_n(const char *s, size_t len)
{
	if (s == NULL || len != CID_HEX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

bool
cid_valid(const char *s)
{
	if (s == NULL)
		return false;
	for (size_t i = 0; i < CID_HEX_LEN; i++)
		if (s[i] == '\0')
			return false;
	return s[CID_HEX_LEN] == '\0' && cid_valid_n(s, CID_HEX_LEN);
}
