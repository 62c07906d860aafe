/*
 * store.c — store lifecycle, the record index, streams, change log, cursors
 * and metadata.
 *
 * Model: a `struct store` handle names a directory and points at a shared
 * `struct store_env`, the one LMDB environment of that index directory in
 * this process. LMDB forbids opening the same environment twice in one
 * process (closing the second copy would drop the first one's POSIX locks),
 * so open environments live in a process-wide list keyed by (dev, inode) of
 * DIR/index and are reference-counted; the list and its mutex are the only
 * file-scope mutable state of libstore, by necessity.
 *
 * Every public call runs its own short transaction (MDB_NOTLS, so a handle
 * may be used from any thread). Write transactions abort on any failure;
 * values are copied out before a transaction ends. Blob files moved away by
 * a write transaction (reference count reached zero) sit in tmp/ until the
 * transaction commits and are unlinked only then (struct trash).
 */
#include "store/store_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define STORE_REC_VERSION   1
#define STORE_VINFO_VERSION 1
#define STORE_WAIT_POLL_MS  20
#define STORE_NODE_FILE     "node-id"
#define STORE_NODE_RAW      16
#define STORE_ARRAY_MIN     16

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_env *env_list;  /* guarded by env_lock */

/* ---- small helpers ---- */

int64_t
store_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int
store_mdb_err(int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT:
		log_warn("store: %s: %s", what, mdb_strerror(rc));
		return -ENOSPC;
	case ENOMEM:
		return -ENOMEM;
	default:
		log_error("store: %s: %s", what, mdb_strerror(rc));
		return -EIO;
	}
}

uint64_t
store_get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void
store_put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static void
put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
store_hex_to_raw(const char *hex, unsigned char raw[STORE_CID_RAW])
{
	if (!cid_valid(hex))
		return -EINVAL;
	for (int i = 0; i < STORE_CID_RAW; i++)
		raw[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
	return 0;
}

void
store_raw_to_hex(const unsigned char raw[STORE_CID_RAW], char hex[CID_BUF_LEN])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < STORE_CID_RAW; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 0xf];
	}
	hex[CID_HEX_LEN] = '\0';
}

bool
store_name_valid(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* 0..max bytes, no control characters. */
static bool
text_valid(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static void
set_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

int
store_record_validate(const struct store_record *r, char *err, size_t errlen)
{
	if (!store_name_valid(r->stream, STORE_STREAM_MAX)) {
		set_err(err, errlen, "bad stream name (1-64 of [A-Za-z0-9_-])");
		return -EINVAL;
	}
	if (!store_name_valid(r->variant, STORE_VARIANT_MAX)) {
		set_err(err, errlen, "bad variant name (1-32 of [A-Za-z0-9_-])");
		return -EINVAL;
	}
	if (!cid_valid(r->cid)) {
		set_err(err, errlen, "bad cid (64 lowercase hex chars)");
		return -EINVAL;
	}
	if (r->duration_us <= 0 || r->duration_us > STORE_DURATION_MAX_US) {
		set_err(err, errlen, "bad duration (must be > 0 and at most one day)");
		return -EINVAL;
	}
	if (r->start_us > INT64_MAX - r->duration_us) {
		set_err(err, errlen, "start_us + duration_us overflows");
		return -EINVAL;
	}
	if (!text_valid(r->session, STORE_SESSION_MAX) ||
	    !text_valid(r->tenant, STORE_TENANT_MAX) ||
	    !text_valid(r->device, STORE_DEVICE_MAX) ||
	    !text_valid(r->codecs, STORE_CODECS_MAX) ||
	    !text_valid(r->node, STORE_NODE_LEN)) {
		set_err(err, errlen, "bad text field (too long or control characters)");
		return -EINVAL;
	}
	return 0;
}

/* ---- codec ---- */

size_t
store_seg_key(char *key, const char *stream, const char *variant, int64_t start_us)
{
	size_t sl = strlen(stream), vl = strlen(variant), n = 0;

	memcpy(key, stream, sl);
	n += sl;
	key[n++] = '\0';
	memcpy(key + n, variant, vl);
	n += vl;
	key[n++] = '\0';
	put_be64((unsigned char *)key + n, (uint64_t)start_us ^ (1ULL << 63));
	return n + 8;
}

/* Prefix "stream\0variant\0" of a segment key; returns its length. */
static size_t
seg_prefix(char *key, const char *stream, const char *variant)
{
	return store_seg_key(key, stream, variant, 0) - 8;
}

int
store_seg_key_parse(const void *key, size_t len, struct store_record *r)
{
	const char *k = key;
	const char *z1, *z2;
	size_t sl, vl;

	if (len < 8 + 4)
		return -EIO;
	z1 = memchr(k, '\0', len - 8);
	if (z1 == NULL)
		return -EIO;
	sl = (size_t)(z1 - k);
	z2 = memchr(z1 + 1, '\0', len - 8 - sl - 1);
	if (z2 == NULL)
		return -EIO;
	vl = (size_t)(z2 - z1 - 1);
	if (sl > STORE_STREAM_MAX || vl > STORE_VARIANT_MAX || (size_t)(z2 - k) + 1 + 8 != len)
		return -EIO;
	memcpy(r->stream, k, sl);
	r->stream[sl] = '\0';
	memcpy(r->variant, z1 + 1, vl);
	r->variant[vl] = '\0';
	r->start_us = (int64_t)(get_be64((const unsigned char *)z2 + 1) ^ (1ULL << 63));
	return 0;
}

static size_t
pack_str(unsigned char *p, const char *s)
{
	size_t n = strlen(s);

	p[0] = (unsigned char)n;
	memcpy(p + 1, s, n);
	return n + 1;
}

static int
unpack_str(const unsigned char **p, const unsigned char *end, char *out, size_t max)
{
	size_t n;

	if (*p >= end)
		return -EIO;
	n = **p;
	if (n > max || (size_t)(end - *p) < n + 1)
		return -EIO;
	memcpy(out, *p + 1, n);
	out[n] = '\0';
	*p += n + 1;
	return 0;
}

size_t
store_rec_pack(const struct store_record *r, unsigned char *buf)
{
	unsigned char *p = buf;

	*p++ = STORE_REC_VERSION;
	store_put_le64(p, (uint64_t)r->duration_us);
	store_put_le64(p + 8, r->seq);
	store_put_le64(p + 16, r->size);
	store_put_le64(p + 24, r->bandwidth);
	put_le32(p + 32, r->width);
	put_le32(p + 36, r->height);
	p[40] = r->discontinuity ? 1 : 0;
	p += 41;
	store_hex_to_raw(r->cid, p);
	p += STORE_CID_RAW;
	p += pack_str(p, r->session);
	p += pack_str(p, r->tenant);
	p += pack_str(p, r->device);
	p += pack_str(p, r->codecs);
	p += pack_str(p, r->node);
	return (size_t)(p - buf);
}

int
store_rec_unpack(const void *val, size_t len, struct store_record *r)
{
	const unsigned char *p = val, *end = p + len;

	if (len < 1 + 41 + STORE_CID_RAW || p[0] != STORE_REC_VERSION)
		return -EIO;
	p++;
	r->duration_us = (int64_t)store_get_le64(p);
	r->seq = store_get_le64(p + 8);
	r->size = store_get_le64(p + 16);
	r->bandwidth = store_get_le64(p + 24);
	r->width = get_le32(p + 32);
	r->height = get_le32(p + 36);
	r->discontinuity = p[40] != 0;
	p += 41;
	store_raw_to_hex(p, r->cid);
	p += STORE_CID_RAW;
	if (unpack_str(&p, end, r->session, STORE_SESSION_MAX) != 0 ||
	    unpack_str(&p, end, r->tenant, STORE_TENANT_MAX) != 0 ||
	    unpack_str(&p, end, r->device, STORE_DEVICE_MAX) != 0 ||
	    unpack_str(&p, end, r->codecs, STORE_CODECS_MAX) != 0 ||
	    unpack_str(&p, end, r->node, STORE_NODE_LEN) != 0)
		return -EIO;
	return 0;
}

/* Change value: op, stream, variant, start, packed record. */
static size_t
change_pack(enum store_op op, const struct store_record *r, unsigned char *buf)
{
	unsigned char *p = buf;

	*p++ = (unsigned char)op;
	p += pack_str(p, r->stream);
	p += pack_str(p, r->variant);
	store_put_le64(p, (uint64_t)r->start_us);
	p += 8;
	p += store_rec_pack(r, p);
	return (size_t)(p - buf);
}

static int
change_unpack(const MDB_val *k, const MDB_val *v, struct store_change *c)
{
	const unsigned char *p = v->mv_data, *end = p + v->mv_size;

	memset(c, 0, sizeof(*c));
	if (k->mv_size != 8 || v->mv_size < 1)
		return -EIO;
	c->seq = get_be64(k->mv_data);
	c->op = (enum store_op)*p++;
	if (c->op != STORE_OP_PUT && c->op != STORE_OP_DELETE)
		return -EIO;
	if (unpack_str(&p, end, c->rec.stream, STORE_STREAM_MAX) != 0 ||
	    unpack_str(&p, end, c->rec.variant, STORE_VARIANT_MAX) != 0 || end - p < 8)
		return -EIO;
	c->rec.start_us = (int64_t)store_get_le64(p);
	p += 8;
	return store_rec_unpack(p, (size_t)(end - p), &c->rec);
}

static size_t
vinfo_pack(const struct vinfo *vi, unsigned char *buf)
{
	unsigned char *p = buf;

	*p++ = STORE_VINFO_VERSION;
	p += pack_str(p, vi->tenant);
	p += pack_str(p, vi->codecs);
	store_put_le64(p, vi->bandwidth);
	put_le32(p + 8, vi->width);
	put_le32(p + 12, vi->height);
	store_put_le64(p + 16, (uint64_t)vi->first_us);
	store_put_le64(p + 24, (uint64_t)vi->last_us);
	store_put_le64(p + 32, vi->segments);
	store_put_le64(p + 40, (uint64_t)vi->max_duration_us);
	store_put_le64(p + 48, vi->next_seq);
	p += 56;
	return (size_t)(p - buf);
}

static int
vinfo_unpack(const void *val, size_t len, struct vinfo *vi)
{
	const unsigned char *p = val, *end = p + len;

	memset(vi, 0, sizeof(*vi));
	if (len < 1 || p[0] != STORE_VINFO_VERSION)
		return -EIO;
	p++;
	if (unpack_str(&p, end, vi->tenant, STORE_TENANT_MAX) != 0 ||
	    unpack_str(&p, end, vi->codecs, STORE_CODECS_MAX) != 0 || end - p < 56)
		return -EIO;
	vi->bandwidth = store_get_le64(p);
	vi->width = get_le32(p + 8);
	vi->height = get_le32(p + 12);
	vi->first_us = (int64_t)store_get_le64(p + 16);
	vi->last_us = (int64_t)store_get_le64(p + 24);
	vi->segments = store_get_le64(p + 32);
	vi->max_duration_us = (int64_t)store_get_le64(p + 40);
	vi->next_seq = store_get_le64(p + 48);
	return 0;
}

static size_t
vinfo_key(char *key, const char *stream, const char *variant)
{
	size_t sl = strlen(stream), vl = strlen(variant);

	memcpy(key, stream, sl);
	key[sl] = '\0';
	memcpy(key + sl + 1, variant, vl);
	return sl + 1 + vl;
}

int
store_vinfo_get(struct store *s, MDB_txn *txn, const char *stream, const char *variant,
                struct vinfo *vi)
{
	char key[STORE_KEY_MAX];
	MDB_val k, v;
	int rc;

	k.mv_data = key;
	k.mv_size = vinfo_key(key, stream, variant);
	rc = mdb_get(txn, s->e->streams, &k, &v);
	if (rc != 0)
		return store_mdb_err(rc, "get stream info");
	return vinfo_unpack(v.mv_data, v.mv_size, vi);
}

int
store_vinfo_put(struct store *s, MDB_txn *txn, const char *stream, const char *variant,
                const struct vinfo *vi)
{
	char key[STORE_KEY_MAX];
	unsigned char buf[STORE_PACK_MAX];
	MDB_val k, v;

	k.mv_data = key;
	k.mv_size = vinfo_key(key, stream, variant);
	v.mv_data = buf;
	v.mv_size = vinfo_pack(vi, buf);
	return store_mdb_err(mdb_put(txn, s->e->streams, &k, &v, 0), "put stream info");
}

/* ---- environment registry ---- */

static int
env_setup(const char *indexdir, struct store_env *e)
{
	MDB_txn *txn = NULL;
	int rc;

	rc = mdb_env_create(&e->env);
	if (rc != 0)
		return store_mdb_err(rc, "mdb_env_create");
	if ((rc = mdb_env_set_maxdbs(e->env, STORE_MAX_DBS)) != 0 ||
	    (rc = mdb_env_set_mapsize(e->env, (size_t)STORE_MAP_SIZE)) != 0 ||
	    (rc = mdb_env_set_maxreaders(e->env, STORE_MAX_READERS)) != 0)
		goto fail;
	rc = mdb_env_open(e->env, indexdir, MDB_NOTLS, 0644);
	if (rc != 0)
		goto fail;
	/* Clear reader slots of processes that died (kill -9). */
	mdb_reader_check(e->env, NULL);
	rc = mdb_txn_begin(e->env, NULL, 0, &txn);
	if (rc != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, "segments", MDB_CREATE, &e->segments)) != 0 ||
	    (rc = mdb_dbi_open(txn, "blobs", MDB_CREATE, &e->blobs)) != 0 ||
	    (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &e->streams)) != 0 ||
	    (rc = mdb_dbi_open(txn, "changes", MDB_CREATE, &e->changes)) != 0 ||
	    (rc = mdb_dbi_open(txn, "cursors", MDB_CREATE, &e->cursors)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &e->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "info", MDB_CREATE, &e->info)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		goto fail;
	return 0;
fail:
	log_error("store: open index \"%s\": %s", indexdir, mdb_strerror(rc));
	mdb_env_close(e->env);
	e->env = NULL;
	return (rc == ENOSPC || rc == MDB_MAP_FULL) ? -ENOSPC : (rc == EACCES ? -EACCES : -EIO);
}

static int
env_acquire(const char *indexdir, struct store_env **out)
{
	struct stat st;
	struct store_env *e;
	int rc = 0;

	pthread_mutex_lock(&env_lock);
	if (stat(indexdir, &st) != 0) {
		rc = errno == ENOENT ? -ENOTDIR : -errno;
		goto out;
	}
	for (e = env_list; e != NULL; e = e->next) {
		if (e->dev == st.st_dev && e->ino == st.st_ino) {
			e->refs++;
			*out = e;
			goto out;
		}
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = env_setup(indexdir, e);
	if (rc != 0) {
		free(e);
		goto out;
	}
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->refs = 1;
	e->next = env_list;
	env_list = e;
	*out = e;
out:
	pthread_mutex_unlock(&env_lock);
	return rc;
}

static void
env_release(struct store_env *e)
{
	struct store_env **pp;

	pthread_mutex_lock(&env_lock);
	if (--e->refs == 0) {
		for (pp = &env_list; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == e) {
				*pp = e->next;
				break;
			}
		}
		mdb_env_close(e->env);
		free(e);
	}
	pthread_mutex_unlock(&env_lock);
}

/* ---- lifecycle ---- */

static int
fsync_path(const char *path)
{
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int
mkdir_ok(const char *path)
{
	struct stat st;

	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* An existing directory may become a store if it holds only store entries. */
static int
check_init_dir(const char *dir)
{
	static const char *const ok[] = { ".", "..", STORE_NODE_FILE, "index", "blobs", "tmp" };
	DIR *d;
	struct dirent *de;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		bool known = false;

		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
			if (strcmp(de->d_name, ok[i]) == 0)
				known = true;
		if (!known) {
			rc = -ENOTDIR;
			break;
		}
	}
	closedir(d);
	return rc;
}

static int
read_node_id(const char *dir, char node[STORE_NODE_LEN + 1])
{
	char path[STORE_PATH_MAX], buf[STORE_NODE_LEN + 2];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, STORE_NODE_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOTDIR : -errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < STORE_NODE_LEN)
		return -ENOTDIR;
	for (int i = 0; i < STORE_NODE_LEN; i++)
		if (hexval(buf[i]) < 0)
			return -ENOTDIR;
	if (n > STORE_NODE_LEN && buf[STORE_NODE_LEN] != '\n')
		return -ENOTDIR;
	memcpy(node, buf, STORE_NODE_LEN);
	node[STORE_NODE_LEN] = '\0';
	return 0;
}

static int
write_node_id(const char *dir)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[STORE_NODE_RAW];
	char text[STORE_NODE_LEN + 1], tmp[STORE_PATH_MAX], path[STORE_PATH_MAX];
	int fd = -1, rc = 0;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (int i = 0; i < STORE_NODE_RAW; i++) {
		text[2 * i] = digits[raw[i] >> 4];
		text[2 * i + 1] = digits[raw[i] & 0xf];
	}
	text[STORE_NODE_LEN] = '\n';
	snprintf(tmp, sizeof(tmp), "%s/tmp/node-id.%ld", dir, (long)getpid());
	snprintf(path, sizeof(path), "%s/%s", dir, STORE_NODE_FILE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, sizeof(text)) != (ssize_t)sizeof(text) || fsync(fd) != 0) {
		rc = errno == ENOSPC ? -ENOSPC : -EIO;
		goto out;
	}
	if (link(tmp, path) != 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	rc = fsync_path(dir);
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int
store_init(const char *dir)
{
	char path[STORE_PATH_MAX], node[STORE_NODE_LEN + 1];
	struct store_env *e = NULL;
	int rc;

	if (dir == NULL || dir[0] == '\0')
		return -EINVAL;
	if (strlen(dir) > STORE_DIR_MAX)
		return -ENAMETOOLONG;
	if ((rc = mkdir_ok(dir)) != 0)
		return rc;
	if (read_node_id(dir, node) == 0)
		return 0;   /* already a store */
	if ((rc = check_init_dir(dir)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/tmp", dir);
	if ((rc = mkdir_ok(path)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/blobs", dir);
	if ((rc = mkdir_ok(path)) != 0)
		return rc;
	for (int i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/blobs/%02x", dir, i);
		if ((rc = mkdir_ok(path)) != 0)
			return rc;
	}
	if ((rc = fsync_path(path)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/blobs", dir);
	if ((rc = fsync_path(path)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/index", dir);
	if ((rc = mkdir_ok(path)) != 0)
		return rc;
	if ((rc = env_acquire(path, &e)) != 0)
		return rc;
	env_release(e);
	if ((rc = fsync_path(dir)) != 0)
		return rc;
	return write_node_id(dir);
}

int
store_open(const char *dir, unsigned flags, struct store **out)
{
	struct store *s = NULL;
	char path[STORE_PATH_MAX];
	struct stat st;
	int rc;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return -EINVAL;
	if (strlen(dir) > STORE_DIR_MAX)
		return -ENAMETOOLONG;
	if (flags & STORE_OPEN_CREATE) {
		rc = store_init(dir);
		if (rc != 0)
			return rc;
	}
	if (stat(dir, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->magic = STORE_MAGIC;
	s->readonly = (flags & STORE_OPEN_READONLY) != 0;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	rc = read_node_id(dir, s->node);
	if (rc != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/blobs", dir);
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/index", dir);
	rc = env_acquire(path, &s->e);
out:
	if (rc != 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void
store_close(struct store **sp)
{
	struct store *s;

	if (sp == NULL || *sp == NULL)
		return;
	s = *sp;
	if (s->magic != STORE_MAGIC)
		abort();
	env_release(s->e);
	s->magic = 0;
	free(s);
	*sp = NULL;
}

const char *
store_dir(const struct store *s)
{
	return s->dir;
}

const char *
store_node_id(const struct store *s)
{
	return s->node;
}

/* ---- transactions ---- */

static int
txn_read(struct store *s, MDB_txn **txn)
{
	return store_mdb_err(mdb_txn_begin(s->e->env, NULL, MDB_RDONLY, txn), "begin read txn");
}

static int
txn_write(struct store *s, MDB_txn **txn)
{
	if (s->readonly)
		return -EROFS;
	return store_mdb_err(mdb_txn_begin(s->e->env, NULL, 0, txn), "begin write txn");
}

/* ---- records ---- */

int
store_change_append(struct store *s, MDB_txn *txn, enum store_op op,
                    const struct store_record *r)
{
	unsigned char kb[8], vb[STORE_PACK_MAX];
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint64_t seq = 1;
	int rc;

	rc = mdb_cursor_open(txn, s->e->changes, &c);
	if (rc != 0)
		return store_mdb_err(rc, "open changes cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		seq = get_be64(k.mv_data) + 1;
	else if (rc != 0 && rc != MDB_NOTFOUND)
		goto out;
	put_be64(kb, seq);
	k.mv_data = kb;
	k.mv_size = 8;
	v.mv_data = vb;
	v.mv_size = change_pack(op, r, vb);
	rc = mdb_cursor_put(c, &k, &v, MDB_APPEND);
out:
	mdb_cursor_close(c);
	return store_mdb_err(rc, "append change");
}

static int
info_add(struct store *s, MDB_txn *txn, const char *name, int64_t delta)
{
	unsigned char buf[8];
	MDB_val k, v;
	uint64_t cur = 0;
	int rc;

	k.mv_data = (void *)name;
	k.mv_size = strlen(name);
	rc = mdb_get(txn, s->e->info, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		cur = store_get_le64(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(rc, "get info");
	cur = (delta < 0 && (uint64_t)-delta > cur) ? 0 : cur + (uint64_t)delta;
	store_put_le64(buf, cur);
	v.mv_data = buf;
	v.mv_size = 8;
	return store_mdb_err(mdb_put(txn, s->e->info, &k, &v, 0), "put info");
}

int
store_blob_ref(struct store *s, MDB_txn *txn, const char *cid, uint64_t size, int delta,
               struct trash *t)
{
	unsigned char raw[STORE_CID_RAW], buf[16];
	MDB_val k, v;
	uint64_t refs = 0, bsize = size;
	int rc;

	if (store_hex_to_raw(cid, raw) != 0)
		return -EINVAL;
	k.mv_data = raw;
	k.mv_size = STORE_CID_RAW;
	rc = mdb_get(txn, s->e->blobs, &k, &v);
	if (rc == 0 && v.mv_size >= 16) {
		bsize = store_get_le64(v.mv_data);
		refs = store_get_le64((const unsigned char *)v.mv_data + 8);
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		return store_mdb_err(rc, "get blob ref");
	}
	if (delta > 0) {
		if (rc == MDB_NOTFOUND && (rc = info_add(s, txn, "blob_bytes", (int64_t)size)) != 0)
			return rc;
		refs++;
	} else {
		if (rc == MDB_NOTFOUND) {
			log_warn("store: blob \"%s\" has no reference entry", cid);
			return 0;
		}
		if (refs <= 1) {
			rc = mdb_del(txn, s->e->blobs, &k, NULL);
			if (rc != 0)
				return store_mdb_err(rc, "del blob ref");
			if ((rc = info_add(s, txn, "blob_bytes", -(int64_t)bsize)) != 0)
				return rc;
			return t != NULL ? store_trash_add(s, t, cid) : 0;
		}
		refs--;
	}
	store_put_le64(buf, bsize);
	store_put_le64(buf + 8, refs);
	v.mv_data = buf;
	v.mv_size = 16;
	return store_mdb_err(mdb_put(txn, s->e->blobs, &k, &v, 0), "put blob ref");
}

static void
vinfo_absorb(struct vinfo *vi, const struct store_record *r)
{
	if (r->tenant[0] != '\0')
		snprintf(vi->tenant, sizeof(vi->tenant), "%s", r->tenant);
	if (r->codecs[0] != '\0')
		snprintf(vi->codecs, sizeof(vi->codecs), "%s", r->codecs);
	if (r->width != 0 && r->height != 0) {
		vi->width = r->width;
		vi->height = r->height;
	}
	if (r->bandwidth > vi->bandwidth)
		vi->bandwidth = r->bandwidth;
	if (r->duration_us > vi->max_duration_us)
		vi->max_duration_us = r->duration_us;
	if (r->seq + 1 > vi->next_seq)
		vi->next_seq = r->seq + 1;
}

/* First start and last end of the variant's records (after a delete). */
static int
vinfo_recompute_span(struct store *s, MDB_txn *txn, const char *stream, const char *variant,
                     struct vinfo *vi)
{
	char key[STORE_KEY_MAX];
	size_t plen = seg_prefix(key, stream, variant);
	struct store_record r;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, s->e->segments, &c);
	if (rc != 0)
		return store_mdb_err(rc, "open cursor");
	k.mv_data = key;
	k.mv_size = plen;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size > plen && memcmp(k.mv_data, key, plen) == 0) {
		store_seg_key_parse(k.mv_data, k.mv_size, &r);
		vi->first_us = r.start_us;
	}
	store_seg_key(key, stream, variant, INT64_MAX);
	k.mv_data = key;
	k.mv_size = plen + 8;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size > plen && memcmp(k.mv_data, key, plen) == 0) {
		store_seg_key_parse(k.mv_data, k.mv_size, &r);
		if (store_rec_unpack(v.mv_data, v.mv_size, &r) == 0)
			vi->last_us = r.start_us + r.duration_us;
	}
	mdb_cursor_close(c);
	return 0;
}

int
store_rec_remove(struct store *s, MDB_txn *txn, const struct store_record *r,
                 struct trash *t)
{
	char key[STORE_KEY_MAX];
	struct vinfo vi;
	MDB_val k;
	int rc;

	k.mv_data = key;
	k.mv_size = store_seg_key(key, r->stream, r->variant, r->start_us);
	rc = mdb_del(txn, s->e->segments, &k, NULL);
	if (rc != 0)
		return store_mdb_err(rc, "delete record");
	if ((rc = store_blob_ref(s, txn, r->cid, r->size, -1, t)) != 0)
		return rc;
	rc = store_vinfo_get(s, txn, r->stream, r->variant, &vi);
	if (rc == 0) {
		if (vi.segments > 0)
			vi.segments--;
		if (vi.segments > 0 &&
		    (r->start_us <= vi.first_us || r->start_us + r->duration_us >= vi.last_us))
			vinfo_recompute_span(s, txn, r->stream, r->variant, &vi);
		if ((rc = store_vinfo_put(s, txn, r->stream, r->variant, &vi)) != 0)
			return rc;
	} else if (rc != -ENOENT) {
		return rc;
	}
	return store_change_append(s, txn, STORE_OP_DELETE, r);
}

/* The record just before start_us of the same stream+variant, if any. */
static int
prev_record(struct store *s, MDB_txn *txn, const struct store_record *r,
            struct store_record *prev)
{
	char key[STORE_KEY_MAX];
	size_t plen = seg_prefix(key, r->stream, r->variant);
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, s->e->segments, &c);
	if (rc != 0)
		return store_mdb_err(rc, "open cursor");
	k.mv_data = key;
	k.mv_size = store_seg_key(key, r->stream, r->variant, r->start_us);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc != 0) {
		rc = rc == MDB_NOTFOUND ? -ENOENT : store_mdb_err(rc, "seek previous");
		goto out;
	}
	if (k.mv_size <= plen || memcmp(k.mv_data, key, plen) != 0) {
		rc = -ENOENT;
		goto out;
	}
	memset(prev, 0, sizeof(*prev));
	rc = store_seg_key_parse(k.mv_data, k.mv_size, prev);
	if (rc == 0)
		rc = store_rec_unpack(v.mv_data, v.mv_size, prev);
out:
	mdb_cursor_close(c);
	return rc;
}

static int
put_one(struct store *s, MDB_txn *txn, const struct store_record *in, unsigned flags,
        bool *created, struct store_record *out, struct trash *t)
{
	struct store_record r = *in, old, prev;
	char key[STORE_KEY_MAX], path[STORE_PATH_MAX], err[128];
	unsigned char vb[STORE_PACK_MAX];
	struct vinfo vi;
	struct stat st;
	MDB_val k, v;
	bool have_vi;
	int rc;

	*created = false;
	rc = store_record_validate(&r, err, sizeof(err));
	if (rc != 0) {
		log_debug("store: record put \"%s\": %s", r.stream, err);
		return rc;
	}
	k.mv_data = key;
	k.mv_size = store_seg_key(key, r.stream, r.variant, r.start_us);
	rc = mdb_get(txn, s->e->segments, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(rc, "get record");
	rc = store_vinfo_get(s, txn, r.stream, r.variant, &vi);
	if (rc != 0 && rc != -ENOENT)
		return rc;
	have_vi = rc == 0;
	if (!have_vi) {
		memset(&vi, 0, sizeof(vi));
		vi.first_us = INT64_MAX;
		vi.last_us = INT64_MIN;
	}
	if ((flags & STORE_PUT_ASSIGN_SEQ) && r.node[0] == '\0')
		snprintf(r.node, sizeof(r.node), "%s", s->node);

	if (mdb_get(txn, s->e->segments, &k, &v) == 0) {
		old = r;
		if ((rc = store_rec_unpack(v.mv_data, v.mv_size, &old)) != 0)
			return rc;
		if (strcmp(old.cid, r.cid) <= 0) {
			*out = old;   /* same CID, or the stored one wins */
			return 0;
		}
	}
	/* The winner's blob must exist; checked inside the txn (gc races). */
	store_blob_path(s, r.cid, path, sizeof(path));
	if (stat(path, &st) != 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	if (r.size == 0)
		r.size = (uint64_t)st.st_size;
	else if (r.size != (uint64_t)st.st_size)
		return -EINVAL;
	if (mdb_get(txn, s->e->segments, &k, &v) == 0) {
		old = r;
		if ((rc = store_rec_unpack(v.mv_data, v.mv_size, &old)) != 0)
			return rc;
		if (flags & STORE_PUT_ASSIGN_SEQ) {
			r.seq = old.seq;
			r.discontinuity = old.discontinuity;
		}
		if ((rc = store_blob_ref(s, txn, old.cid, old.size, -1, t)) != 0)
			return rc;
		if (!have_vi)
			vi.segments = 1;
	} else {
		if (flags & STORE_PUT_ASSIGN_SEQ) {
			r.seq = vi.next_seq;
			rc = prev_record(s, txn, &r, &prev);
			if (rc != 0 && rc != -ENOENT)
				return rc;
			r.discontinuity = rc == -ENOENT || strcmp(prev.session, r.session) != 0;
		}
		vi.segments++;
	}
	if ((rc = store_blob_ref(s, txn, r.cid, r.size, +1, t)) != 0)
		return rc;
	v.mv_data = vb;
	v.mv_size = store_rec_pack(&r, vb);
	rc = mdb_put(txn, s->e->segments, &k, &v, 0);
	if (rc != 0)
		return store_mdb_err(rc, "put record");
	vinfo_absorb(&vi, &r);
	if (r.start_us < vi.first_us)
		vi.first_us = r.start_us;
	if (r.start_us + r.duration_us > vi.last_us)
		vi.last_us = r.start_us + r.duration_us;
	if ((rc = store_vinfo_put(s, txn, r.stream, r.variant, &vi)) != 0)
		return rc;
	if ((rc = store_change_append(s, txn, STORE_OP_PUT, &r)) != 0)
		return rc;
	*created = true;
	*out = r;
	return 0;
}

int
store_record_put_many(struct store *s, const struct store_record *recs, size_t n,
                      unsigned flags, size_t *created_n)
{
	struct trash t = { 0 };
	struct store_record out;
	MDB_txn *txn = NULL;
	size_t made = 0;
	bool created;
	int rc;

	if (created_n != NULL)
		*created_n = 0;
	rc = txn_write(s, &txn);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		rc = put_one(s, txn, &recs[i], flags, &created, &out, &t);
		if (rc != 0)
			goto out;
		made += created ? 1 : 0;
	}
	rc = store_mdb_err(mdb_txn_commit(txn), "commit records");
	txn = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc == 0) {
		store_trash_commit(s, &t);
		if (created_n != NULL)
			*created_n = made;
	} else {
		store_trash_rollback(s, &t);
	}
	store_trash_free(&t);
	return rc;
}

int
store_record_put(struct store *s, const struct store_record *rec, unsigned flags,
                 bool *created, struct store_record *rec_out)
{
	struct trash t = { 0 };
	struct store_record out;
	MDB_txn *txn = NULL;
	bool made = false;
	int rc;

	if (created != NULL)
		*created = false;
	rc = txn_write(s, &txn);
	if (rc != 0)
		return rc;
	rc = put_one(s, txn, rec, flags, &made, &out, &t);
	if (rc != 0)
		goto out;
	if (!made) {
		mdb_txn_abort(txn);   /* nothing changed */
		txn = NULL;
		goto out;
	}
	rc = store_mdb_err(mdb_txn_commit(txn), "commit record");
	txn = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc == 0) {
		store_trash_commit(s, &t);
		if (created != NULL)
			*created = made;
		if (rec_out != NULL)
			*rec_out = out;
	} else {
		store_trash_rollback(s, &t);
	}
	store_trash_free(&t);
	return rc;
}

int
store_record_get(struct store *s, const char *stream, const char *variant, int64_t start_us,
                 struct store_record *out)
{
	char key[STORE_KEY_MAX];
	MDB_txn *txn = NULL;
	struct store_record r;
	MDB_val k, v;
	int rc;

	if (variant == NULL)
		variant = "src";
	if (!store_name_valid(stream, STORE_STREAM_MAX) ||
	    !store_name_valid(variant, STORE_VARIANT_MAX))
		return -EINVAL;
	if ((rc = txn_read(s, &txn)) != 0)
		return rc;
	memset(&r, 0, sizeof(r));
	k.mv_data = key;
	k.mv_size = store_seg_key(key, stream, variant, start_us);
	rc = mdb_get(txn, s->e->segments, &k, &v);
	if (rc != 0) {
		rc = store_mdb_err(rc, "get record");
		goto out;
	}
	store_seg_key_parse(k.mv_data, k.mv_size, &r);
	rc = store_rec_unpack(v.mv_data, v.mv_size, &r);
	if (rc == 0)
		*out = r;
out:
	mdb_txn_abort(txn);
	return rc;
}

/* Growable record array. */
struct recs {
	struct store_record *a;
	size_t n, cap;
};

static int
recs_push(struct recs *rs, const struct store_record *r)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : STORE_ARRAY_MIN;
		struct store_record *a = realloc(rs->a, cap * sizeof(*a));

		if (a == NULL)
			return -ENOMEM;
		rs->a = a;
		rs->cap = cap;
	}
	rs->a[rs->n++] = *r;
	return 0;
}

/* Scan one stream+variant for [from, to); appends to rs. */
static int
query_variant(struct store *s, MDB_txn *txn, const char *stream, const char *variant,
              const struct vinfo *vi, int64_t from_us, int64_t to_us, size_t max,
              struct recs *rs, bool *truncated)
{
	char key[STORE_KEY_MAX];
	size_t plen = seg_prefix(key, stream, variant);
	struct store_record r;
	MDB_cursor *c = NULL;
	int64_t seek;
	MDB_val k, v;
	int rc;

	/* Records starting before `from` overlap it only when they start after
	 * from - max_duration: the longest segment ever stored here. */
	if (from_us < INT64_MIN + vi->max_duration_us)
		seek = INT64_MIN;
	else
		seek = from_us - vi->max_duration_us + 1;
	rc = mdb_cursor_open(txn, s->e->segments, &c);
	if (rc != 0)
		return store_mdb_err(rc, "open cursor");
	k.mv_data = key;
	k.mv_size = store_seg_key(key, stream, variant, seek);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= plen || memcmp(k.mv_data, key, plen) != 0)
			break;
		memset(&r, 0, sizeof(r));
		if ((rc = store_seg_key_parse(k.mv_data, k.mv_size, &r)) != 0)
			goto out;
		if (r.start_us >= to_us)
			break;
		if ((rc = store_rec_unpack(v.mv_data, v.mv_size, &r)) != 0)
			goto out;
		if (r.start_us + r.duration_us <= from_us)
			continue;
		if (max != 0 && rs->n >= max) {
			*truncated = true;
			break;
		}
		if ((rc = recs_push(rs, &r)) != 0)
			goto out;
	}
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : store_mdb_err(rc, "scan records");
out:
	mdb_cursor_close(c);
	return rc;
}

/* Variant names of a stream (rows of the streams db with segments). */
static int
stream_variants(struct store *s, MDB_txn *txn, const char *stream,
                char (**names)[STORE_VARIANT_MAX + 1], struct vinfo **vis, size_t *n)
{
	char key[STORE_KEY_MAX];
	size_t sl = strlen(stream), cnt = 0, cap = 0;
	char (*nm)[STORE_VARIANT_MAX + 1] = NULL;
	struct vinfo *vv = NULL, vi;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc;

	memcpy(key, stream, sl);
	key[sl] = '\0';
	rc = mdb_cursor_open(txn, s->e->streams, &c);
	if (rc != 0)
		return store_mdb_err(rc, "open cursor");
	k.mv_data = key;
	k.mv_size = sl + 1;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		size_t vl;

		if (k.mv_size <= sl + 1 || memcmp(k.mv_data, key, sl + 1) != 0)
			break;
		vl = k.mv_size - sl - 1;
		if (vl > STORE_VARIANT_MAX || vinfo_unpack(v.mv_data, v.mv_size, &vi) != 0) {
			rc = -EIO;
			goto out;
		}
		if (vi.segments == 0)
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			void *a = realloc(nm, ncap * sizeof(*nm)), *b;

			if (a == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			nm = a;
			b = realloc(vv, ncap * sizeof(*vv));
			if (b == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			vv = b;
			cap = ncap;
		}
		memcpy(nm[cnt], (const char *)k.mv_data + sl + 1, vl);
		nm[cnt][vl] = '\0';
		vv[cnt] = vi;
		cnt++;
	}
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : store_mdb_err(rc, "scan streams");
out:
	mdb_cursor_close(c);
	if (rc != 0) {
		free(nm);
		free(vv);
		return rc;
	}
	*names = nm;
	*vis = vv;
	*n = cnt;
	return 0;
}

int
store_query(struct store *s, const char *stream, const char *variant, int64_t from_us,
            int64_t to_us, size_t max, struct store_record **out, size_t *n, bool *truncated)
{
	char (*names)[STORE_VARIANT_MAX + 1] = NULL;
	struct vinfo *vis = NULL, vi;
	struct recs rs = { 0 };
	MDB_txn *txn = NULL;
	size_t nv = 0;
	bool trunc = false;
	int rc;

	*out = NULL;
	*n = 0;
	if (truncated != NULL)
		*truncated = false;
	if (!store_name_valid(stream, STORE_STREAM_MAX) ||
	    (variant != NULL && !store_name_valid(variant, STORE_VARIANT_MAX)) || from_us > to_us)
		return -EINVAL;
	if ((rc = txn_read(s, &txn)) != 0)
		return rc;
	if (variant != NULL) {
		rc = store_vinfo_get(s, txn, stream, variant, &vi);
		if (rc == 0 && vi.segments == 0)
			rc = -ENOENT;
		if (rc == 0)
			rc = query_variant(s, txn, stream, variant, &vi, from_us, to_us, max, &rs,
			                   &trunc);
		goto out;
	}
	rc = stream_variants(s, txn, stream, &names, &vis, &nv);
	if (rc == 0 && nv == 0)
		rc = -ENOENT;
	for (size_t i = 0; rc == 0 && i < nv && !trunc; i++)
		rc = query_variant(s, txn, stream, names[i], &vis[i], from_us, to_us, max, &rs,
		                   &trunc);
out:
	mdb_txn_abort(txn);
	free(names);
	free(vis);
	if (rc != 0) {
		free(rs.a);
		return rc;
	}
	*out = rs.a;
	*n = rs.n;
	if (truncated != NULL)
		*truncated = trunc;
	return 0;
}

int
store_latest(struct store *s, const char *stream, const char *variant, size_t n,
             struct store_record **out, size_t *count)
{
	char key[STORE_KEY_MAX];
	struct store_record *a = NULL;
	MDB_cursor *c = NULL;
	MDB_txn *txn = NULL;
	struct vinfo vi;
	size_t plen, got = 0;
	MDB_val k, v;
	int rc;

	*out = NULL;
	*count = 0;
	if (variant == NULL)
		variant = "src";
	if (!store_name_valid(stream, STORE_STREAM_MAX) ||
	    !store_name_valid(variant, STORE_VARIANT_MAX))
		return -EINVAL;
	if (n == 0)
		return 0;
	if ((rc = txn_read(s, &txn)) != 0)
		return rc;
	rc = store_vinfo_get(s, txn, stream, variant, &vi);
	if (rc == 0 && vi.segments == 0)
		rc = -ENOENT;
	if (rc != 0)
		goto out;
	if (n > vi.segments)
		n = (size_t)vi.segments;
	a = calloc(n, sizeof(*a));
	if (a == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	plen = seg_prefix(key, stream, variant);
	if ((rc = mdb_cursor_open(txn, s->e->segments, &c)) != 0) {
		rc = store_mdb_err(rc, "open cursor");
		goto out;
	}
	k.mv_data = key;
	k.mv_size = store_seg_key(key, stream, variant, INT64_MAX);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	for (; rc == 0 && got < n; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
		struct store_record *r = &a[n - 1 - got];

		if (k.mv_size <= plen || memcmp(k.mv_data, key, plen) != 0)
			break;
		if ((rc = store_seg_key_parse(k.mv_data, k.mv_size, r)) != 0 ||
		    (rc = store_rec_unpack(v.mv_data, v.mv_size, r)) != 0)
			goto out;
		got++;
	}
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : store_mdb_err(rc, "scan records");
	if (rc == 0 && got < n)
		memmove(a, a + (n - got), got * sizeof(*a));
out:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (rc != 0 || got == 0) {
		free(a);
		return rc;
	}
	*out = a;
	*count = got;
	return 0;
}

/* ---- streams ---- */

void
store_stream_info_clear(struct store_stream_info *si)
{
	if (si == NULL)
		return;
	free(si->variants);
	memset(si, 0, sizeof(*si));
}

void
store_streams_free(struct store_stream_info **arr, size_t n)
{
	if (arr == NULL || *arr == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*arr)[i].variants);
	free(*arr);
	*arr = NULL;
}

/* Append a variant row to si (stream totals updated). */
static int
si_add(struct store_stream_info *si, const char *variant, size_t vl, const struct vinfo *vi)
{
	struct store_variant_info *nv, *x;

	nv = realloc(si->variants, (si->nvariants + 1) * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	si->variants = nv;
	x = &nv[si->nvariants++];
	memset(x, 0, sizeof(*x));
	memcpy(x->name, variant, vl);
	x->name[vl] = '\0';
	x->bandwidth = vi->bandwidth;
	x->width = vi->width;
	x->height = vi->height;
	snprintf(x->codecs, sizeof(x->codecs), "%s", vi->codecs);
	x->first_us = vi->first_us;
	x->last_us = vi->last_us;
	x->segments = vi->segments;
	if (si->segments == 0 || vi->first_us < si->first_us)
		si->first_us = vi->first_us;
	if (si->segments == 0 || vi->last_us > si->last_us)
		si->last_us = vi->last_us;
	si->segments += vi->segments;
	if (si->tenant[0] == '\0')
		snprintf(si->tenant, sizeof(si->tenant), "%s", vi->tenant);
	return 0;
}

/* Scan the streams db, from `stream` only when non-NULL. */
static int
streams_scan(struct store *s, const char *stream, struct store_stream_info **out, size_t *n)
{
	struct store_stream_info *arr = NULL, *cur = NULL;
	size_t cnt = 0, cap = 0, sl = stream ? strlen(stream) : 0;
	char key[STORE_KEY_MAX];
	MDB_cursor *c = NULL;
	MDB_txn *txn = NULL;
	struct vinfo vi;
	MDB_val k, v;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = txn_read(s, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->e->streams, &c)) != 0) {
		rc = store_mdb_err(rc, "open cursor");
		goto out;
	}
	if (stream != NULL) {
		memcpy(key, stream, sl);
		key[sl] = '\0';
		k.mv_data = key;
		k.mv_size = sl + 1;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const char *kp = k.mv_data, *z;
		size_t nl, vl;

		if (stream != NULL && (k.mv_size <= sl + 1 || memcmp(kp, key, sl + 1) != 0))
			break;
		z = memchr(kp, '\0', k.mv_size);
		if (z == NULL) {
			rc = -EIO;
			goto out;
		}
		nl = (size_t)(z - kp);
		vl = k.mv_size - nl - 1;
		if (nl > STORE_STREAM_MAX || vl > STORE_VARIANT_MAX ||
		    vinfo_unpack(v.mv_data, v.mv_size, &vi) != 0) {
			rc = -EIO;
			goto out;
		}
		if (vi.segments == 0)
			continue;
		if (cur == NULL || strlen(cur->stream) != nl || memcmp(cur->stream, kp, nl) != 0) {
			if (cnt == cap) {
				size_t ncap = cap ? cap * 2 : STORE_ARRAY_MIN;
				struct store_stream_info *a = realloc(arr, ncap * sizeof(*a));

				if (a == NULL) {
					rc = -ENOMEM;
					goto out;
				}
				arr = a;
				cap = ncap;
			}
			cur = &arr[cnt++];
			memset(cur, 0, sizeof(*cur));
			memcpy(cur->stream, kp, nl);
			cur->stream[nl] = '\0';
		}
		if ((rc = si_add(cur, z + 1, vl, &vi)) != 0)
			goto out;
	}
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : store_mdb_err(rc, "scan streams");
out:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (rc != 0) {
		store_streams_free(&arr, cnt);
		return rc;
	}
	if (cnt == 0) {
		free(arr);
		arr = NULL;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

int
store_streams(struct store *s, struct store_stream_info **out, size_t *n)
{
	return streams_scan(s, NULL, out, n);
}

int
store_stream_get(struct store *s, const char *stream, struct store_stream_info *out)
{
	struct store_stream_info *arr = NULL;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!store_name_valid(stream, STORE_STREAM_MAX))
		return -EINVAL;
	rc = streams_scan(s, stream, &arr, &n);
	if (rc != 0)
		return rc;
	if (n == 0)
		return -ENOENT;
	*out = arr[0];
	arr[0].variants = NULL;
	store_streams_free(&arr, n);
	return 0;
}

/* ---- change log ---- */

static int
last_seq_txn(struct store *s, MDB_txn *txn, uint64_t *last)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc;

	*last = 0;
	if ((rc = mdb_cursor_open(txn, s->e->changes, &c)) != 0)
		return store_mdb_err(rc, "open cursor");
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8)
		*last = get_be64(k.mv_data);
	mdb_cursor_close(c);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : store_mdb_err(rc, "last change");
}

int
store_last_seq(struct store *s, uint64_t *last_seq)
{
	MDB_txn *txn = NULL;
	int rc;

	*last_seq = 0;
	if ((rc = txn_read(s, &txn)) != 0)
		return rc;
	rc = last_seq_txn(s, txn, last_seq);
	mdb_txn_abort(txn);
	return rc;
}

int
store_changes(struct store *s, uint64_t since, size_t limit, struct store_change **out,
              size_t *n, uint64_t *last_seq)
{
	struct store_change *a = NULL;
	unsigned char kb[8];
	MDB_cursor *c = NULL;
	MDB_txn *txn = NULL;
	size_t cnt = 0, cap = 0;
	uint64_t last = 0;
	MDB_val k, v;
	int rc;

	*out = NULL;
	*n = 0;
	if (limit == 0 || limit > STORE_CHANGES_MAX)
		limit = STORE_CHANGES_MAX;
	if ((rc = txn_read(s, &txn)) != 0)
		return rc;
	if ((rc = last_seq_txn(s, txn, &last)) != 0)
		goto out;
	if (since >= last)
		goto out;
	if ((rc = mdb_cursor_open(txn, s->e->changes, &c)) != 0) {
		rc = store_mdb_err(rc, "open cursor");
		goto out;
	}
	put_be64(kb, since + 1);
	k.mv_data = kb;
	k.mv_size = 8;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (; rc == 0 && cnt < limit; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : STORE_ARRAY_MIN;
			struct store_change *b;

			if (ncap > limit)
				ncap = limit;
			b = realloc(a, ncap * sizeof(*b));
			if (b == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			a = b;
			cap = ncap;
		}
		if ((rc = change_unpack(&k, &v, &a[cnt])) != 0)
			goto out;
		cnt++;
	}
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : store_mdb_err(rc, "scan changes");
out:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (rc != 0) {
		free(a);
		return rc;
	}
	if (last_seq != NULL)
		*last_seq = last;
	*out = cnt ? a : NULL;
	if (cnt == 0)
		free(a);
	*n = cnt;
	return 0;
}

int
store_changes_wait(struct store *s, uint64_t since, int timeout_ms, const volatile int *stop)
{
	int64_t deadline = store_now_us() + (int64_t)timeout_ms * 1000;
	uint64_t last;
	int rc;

	for (;;) {
		rc = store_last_seq(s, &last);
		if (rc != 0)
			return rc;
		if (last > since)
			return 0;
		if (stop != NULL && *stop)
			return -EINTR;
		int64_t left = deadline - store_now_us();
		if (left <= 0)
			return -ETIMEDOUT;
		if (left > STORE_WAIT_POLL_MS * 1000)
			left = STORE_WAIT_POLL_MS * 1000;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)left * 1000 };
		nanosleep(&ts, NULL);
	}
}

int
store_record_delete(struct store *s, const struct store_record *key)
{
	char kb[STORE_KEY_MAX];
	struct store_record r;
	struct trash t = { 0 };
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc;

	if (!store_name_valid(key->stream, STORE_STREAM_MAX) ||
	    !store_name_valid(key->variant, STORE_VARIANT_MAX) || !cid_valid(key->cid))
		return -EINVAL;
	if ((rc = txn_write(s, &txn)) != 0)
		return rc;
	k.mv_data = kb;
	k.mv_size = store_seg_key(kb, key->stream, key->variant, key->start_us);
	rc = mdb_get(txn, s->e->segments, &k, &v);
	if (rc != 0) {
		rc = store_mdb_err(rc, "get record");
		goto out;
	}
	memset(&r, 0, sizeof(r));
	store_seg_key_parse(k.mv_data, k.mv_size, &r);
	if ((rc = store_rec_unpack(v.mv_data, v.mv_size, &r)) != 0)
		goto out;
	if (strcmp(r.cid, key->cid) != 0) {
		rc = -ENOENT;   /* a different record lives under this key */
		goto out;
	}
	if ((rc = store_rec_remove(s, txn, &r, &t)) != 0)
		goto out;
	rc = store_mdb_err(mdb_txn_commit(txn), "commit delete");
	txn = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc == 0)
		store_trash_commit(s, &t);
	else
		store_trash_rollback(s, &t);
	store_trash_free(&t);
	return rc;
}

/* ---- cursors and meta ---- */

static int
kv_put(struct store *s, MDB_dbi dbi, const void *key, size_t klen, const void *val,
       size_t vlen)
{
	MDB_txn *txn = NULL;
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
	int rc;

	if ((rc = txn_write(s, &txn)) != 0)
		return rc;
	rc = mdb_put(txn, dbi, &k, &v, 0);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_mdb_err(rc, "put");
	}
	return store_mdb_err(mdb_txn_commit(txn), "commit");
}

static int
kv_get(struct store *s, MDB_dbi dbi, const void *key, size_t klen, void **val, size_t *vlen)
{
	MDB_txn *txn = NULL;
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key }, v;
	void *copy;
	int rc;

	if ((rc = txn_read(s, &txn)) != 0)
		return rc;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc != 0) {
		rc = store_mdb_err(rc, "get");
		goto out;
	}
	copy = malloc(v.mv_size ? v.mv_size : 1);
	if (copy == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(copy, v.mv_data, v.mv_size);
	*val = copy;
	*vlen = v.mv_size;
out:
	mdb_txn_abort(txn);
	return rc;
}

int
store_cursor_get(struct store *s, const char *peer, uint64_t *seq)
{
	void *val = NULL;
	size_t len = 0;
	int rc;

	*seq = 0;
	if (peer == NULL || peer[0] == '\0' || strlen(peer) > STORE_PEER_MAX)
		return -EINVAL;
	rc = kv_get(s, s->e->cursors, peer, strlen(peer), &val, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && len == 8)
		*seq = store_get_le64(val);
	free(val);
	return rc;
}

int
store_cursor_set(struct store *s, const char *peer, uint64_t seq)
{
	unsigned char buf[8];

	if (peer == NULL || peer[0] == '\0' || strlen(peer) > STORE_PEER_MAX)
		return -EINVAL;
	store_put_le64(buf, seq);
	return kv_put(s, s->e->cursors, peer, strlen(peer), buf, 8);
}

static bool
meta_key_valid(const char *key)
{
	return key != NULL && key[0] != '\0' && strlen(key) <= STORE_META_KEY_MAX;
}

int
store_meta_put(struct store *s, const char *key, const void *val, size_t len)
{
	if (!meta_key_valid(key) || (val == NULL && len > 0))
		return -EINVAL;
	return kv_put(s, s->e->meta, key, strlen(key), val ? val : "", len);
}

int
store_meta_get(struct store *s, const char *key, void **val, size_t *len)
{
	*val = NULL;
	*len = 0;
	if (!meta_key_valid(key))
		return -EINVAL;
	return kv_get(s, s->e->meta, key, strlen(key), val, len);
}

int
store_meta_del(struct store *s, const char *key)
{
	MDB_txn *txn = NULL;
	MDB_val k;
	int rc;

	if (!meta_key_valid(key))
		return -EINVAL;
	if ((rc = txn_write(s, &txn)) != 0)
		return rc;
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	rc = mdb_del(txn, s->e->meta, &k, NULL);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_mdb_err(rc, "delete meta");
	}
	return store_mdb_err(mdb_txn_commit(txn), "commit");
}

struct meta_item {
	char *key;
	void *val;
	size_t len;
};

int
store_meta_list(struct store *s, const char *prefix, store_meta_cb cb, void *arg)
{
	struct meta_item *items = NULL;
	size_t cnt = 0, cap = 0, pl = prefix ? strlen(prefix) : 0;
	MDB_cursor *c = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc;

	if ((rc = txn_read(s, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->e->meta, &c)) != 0) {
		rc = store_mdb_err(rc, "open cursor");
		goto out;
	}
	if (pl > 0) {
		k.mv_data = (void *)prefix;
		k.mv_size = pl;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	}
	/* Copy everything out first: the callback runs without a transaction. */
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct meta_item *it;

		if (k.mv_size < pl || memcmp(k.mv_data, prefix, pl) != 0)
			break;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : STORE_ARRAY_MIN;
			struct meta_item *a = realloc(items, ncap * sizeof(*a));

			if (a == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			items = a;
			cap = ncap;
		}
		it = &items[cnt];
		it->key = malloc(k.mv_size + 1);
		it->val = malloc(v.mv_size + 1);
		if (it->key == NULL || it->val == NULL) {
			free(it->key);
			free(it->val);
			rc = -ENOMEM;
			goto out;
		}
		memcpy(it->key, k.mv_data, k.mv_size);
		it->key[k.mv_size] = '\0';
		memcpy(it->val, v.mv_data, v.mv_size);
		((char *)it->val)[v.mv_size] = '\0';
		it->len = v.mv_size;
		cnt++;
	}
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : store_mdb_err(rc, "scan meta");
out:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	for (size_t i = 0; i < cnt; i++) {
		if (rc == 0 && cb(arg, items[i].key, items[i].val, items[i].len) != 0)
			rc = 1;
		free(items[i].key);
		free(items[i].val);
	}
	free(items);
	return rc > 0 ? 0 : rc;
}
