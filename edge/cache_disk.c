/*
 * cache_disk.c — disk tier: blob files DIR/ab/<cid>, an in-memory index.
 *
 * Model: one mutex guards the index (hash table of struct dnode + LRU list +
 * byte count); file I/O happens outside it. New files are written to
 * DIR/tmp/<cid>.<tid> and renamed into DIR/ab/<cid> (no fsync: a cache may
 * lose a file on power loss; what survives is re-hashed before first use).
 * At start the directory is scanned (names and sizes only) and every file is
 * "unverified"; the first request for one hashes it in the fetcher thread
 * (cache_disk_tier_load_verify) and deletes it when it does not match.
 * Over capacity, least recently used files are unlinked; a reader that had
 * the file open keeps reading it (POSIX unlink semantics).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "edge/cache.h"

#define DISK_BUCKETS 65536u
#define DISK_READ_CHUNK (256u << 10)

struct dnode {
	char cid[CID_BUF_LEN];
	uint64_t size;
	bool verified;
	struct dnode *hnext, *lprev, *lnext;
};

struct cache_disk {
	pthread_mutex_t mu;
	char dir[PATH_MAX / 2];
	uint64_t cap;
	uint64_t bytes;
	struct dnode *buckets[DISK_BUCKETS];
	struct dnode *head, *tail;
};

static uint32_t
dhash(const char *cid)
{
	uint32_t h = 0;
	for (int i = 0; i < 8; i++) {
		char c = cid[i];
		uint32_t d =
		        (c >= '0' && c <= '9') ? (uint32_t)(c - '0') : (uint32_t)(c - 'a' + 10);
		h = (h << 4) | (d & 0xf);
	}
	return h & (DISK_BUCKETS - 1);
}

static struct dnode **
dfind(struct cache_disk *d, const char *cid)
{
	struct dnode **pp = &d->buckets[dhash(cid)];
	while (*pp && memcmp((*pp)->cid, cid, CID_HEX_LEN) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void
dlru_unlink(struct cache_disk *d, struct dnode *n)
{
	if (n->lprev)
		n->lprev->lnext = n->lnext;
	else
		d->head = n->lnext;
	if (n->lnext)
		n->lnext->lprev = n->lprev;
	else
		d->tail = n->lprev;
	n->lprev = n->lnext = NULL;
}

static void
dlru_push(struct cache_disk *d, struct dnode *n)
{
	n->lprev = NULL;
	n->lnext = d->head;
	if (d->head)
		d->head->lprev = n;
	d->head = n;
	if (d->tail == NULL)
		d->tail = n;
}

/* Under mu: remove n from the index (caller frees it). */
static void
dremove(struct cache_disk *d, struct dnode *n)
{
	struct dnode **pp = dfind(d, n->cid);
	if (*pp == n)
		*pp = n->hnext;
	n->hnext = NULL;
	dlru_unlink(d, n);
	d->bytes -= n->size;
}

static void
blob_path(const struct cache_disk *d, const char *cid, char *out, size_t len)
{
	snprintf(out, len, "%s/%.2s/%s", d->dir, cid, cid);
}

/* Unlink the files of a private victim list (linked by hnext) and free it. */
static void
unlink_victims(struct cache_disk *d, struct dnode *v)
{
	char path[PATH_MAX];
	while (v) {
		struct dnode *next = v->hnext;
		blob_path(d, v->cid, path, sizeof(path));
		if (unlink(path) != 0 && errno != ENOENT)
			log_warn("unlink cache file \"%s\": %s", path, strerror(errno));
		free(v);
		v = next;
	}
}

/* Under mu: evict until bytes + extra <= cap; returns the victim list. */
static struct dnode *
evict_for(struct cache_disk *d, uint64_t extra)
{
	struct dnode *victims = NULL;
	while (d->tail && d->bytes + extra > d->cap) {
		struct dnode *n = d->tail;
		dremove(d, n);
		n->hnext = victims;
		victims = n;
	}
	return victims;
}

/* Under mu. */
static int
dadd(struct cache_disk *d, const char *cid, uint64_t size, bool verified)
{
	struct dnode **pp = dfind(d, cid);
	if (*pp)
		return 0;
	struct dnode *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	memcpy(n->cid, cid, CID_HEX_LEN);
	n->size = size;
	n->verified = verified;
	*pp = n;
	dlru_push(d, n);
	d->bytes += size;
	return 0;
}

static int
disk_lookup(void *impl, const char *cid, struct cache_hit *hit)
{
	struct cache_disk *d = impl;
	char path[PATH_MAX];
	int found = 0;
	bool verified = false;
	uint64_t size = 0;

	pthread_mutex_lock(&d->mu);
	struct dnode *n = *dfind(d, cid);
	if (n) {
		found = 1;
		verified = n->verified;
		size = n->size;
		if (verified && d->head != n) {
			dlru_unlink(d, n);
			dlru_push(d, n);
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (!found)
		return 0;
	hit->tier = CACHE_TIER_DISK;
	hit->e = NULL;
	hit->fd = -1;
	hit->size = size;
	hit->verified = verified;
	if (!verified)
		return 1;
	blob_path(d, cid, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		pthread_mutex_lock(&d->mu);
		struct dnode **pp = dfind(d, cid);
		struct dnode *gone = *pp;
		if (gone)
			dremove(d, gone);
		pthread_mutex_unlock(&d->mu);
		free(gone);
		return 0;
	}
	hit->fd = fd;
	return 1;
}

static int
write_all(int fd, const uint8_t *p, uint64_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : (size_t)n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (uint64_t)w;
	}
	return 0;
}

static int
disk_insert(void *impl, struct cache_entry *e)
{
	struct cache_disk *d = impl;
	char tmp[PATH_MAX], path[PATH_MAX], sub[PATH_MAX];
	int fd = -1, rc = 0;

	if (e->size > d->cap)
		return 0;
	pthread_mutex_lock(&d->mu);
	bool have = *dfind(d, e->cid) != NULL;
	pthread_mutex_unlock(&d->mu);
	if (have)
		return 0;

	snprintf(sub, sizeof(sub), "%s/%.2s", d->dir, e->cid);
	if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
		rc = -errno;
		log_warn("mkdir cache dir \"%s\": %s", sub, strerror(errno));
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s.%ld", d->dir, e->cid, (long)syscall(SYS_gettid));
	blob_path(d, e->cid, path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		log_warn("open cache tmp file \"%s\": %s", tmp, strerror(errno));
		goto out;
	}
	rc = write_all(fd, e->data, e->size);
	if (rc == 0 && close(fd) != 0)
		rc = -errno;
	fd = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		log_warn("write cache file \"%s\": %s", path, strerror(-rc));
		unlink(tmp);
		goto out;
	}
	pthread_mutex_lock(&d->mu);
	struct dnode *victims = evict_for(d, e->size);
	rc = dadd(d, e->cid, e->size, true);
	pthread_mutex_unlock(&d->mu);
	unlink_victims(d, victims);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int
cache_disk_tier_load_verify(void *impl, const char *cid, struct cache_entry **out)
{
	struct cache_disk *d = impl;
	char path[PATH_MAX], got[CID_BUF_LEN];
	struct cid_hasher h = {0};
	uint8_t *buf = NULL;
	int fd = -1, rc = 0;
	struct stat st;

	*out = NULL;
	pthread_mutex_lock(&d->mu);
	bool have = *dfind(d, cid) != NULL;
	pthread_mutex_unlock(&d->mu);
	if (!have)
		return 0;
	blob_path(d, cid, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || (uint64_t)st.st_size > CACHE_MAX_OBJECT) {
		rc = 0;
		goto bad;
	}
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	size_t got_n = 0;
	while (got_n < (size_t)st.st_size) {
		size_t want = (size_t)st.st_size - got_n;
		ssize_t r = read(fd, buf + got_n, want > DISK_READ_CHUNK ? DISK_READ_CHUNK : want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto bad;
		got_n += (size_t)r;
	}
	rc = cid_of(buf, got_n, got);
	if (rc != 0)
		goto out;
	if (memcmp(got, cid, CID_HEX_LEN) != 0) {
		log_warn("cache file \"%s\": content hash %s does not match, deleting", path, got);
		goto bad;
	}
	rc = cache_entry_from_buf(cid, buf, got_n, out);
	buf = NULL;
	if (rc != 0)
		goto out;
	pthread_mutex_lock(&d->mu);
	struct dnode *n = *dfind(d, cid);
	if (n) {
		n->verified = true;
		d->bytes -= n->size;
		n->size = got_n;
		d->bytes += got_n;
	}
	pthread_mutex_unlock(&d->mu);
	rc = 1;
	goto out;
bad:
	unlink(path);
	pthread_mutex_lock(&d->mu);
	struct dnode **pp = dfind(d, cid);
	struct dnode *gone = *pp;
	if (gone)
		dremove(d, gone);
	pthread_mutex_unlock(&d->mu);
	free(gone);
	rc = 0;
out:
	cid_hasher_abort(&h);
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static uint64_t
disk_bytes(void *impl)
{
	struct cache_disk *d = impl;
	pthread_mutex_lock(&d->mu);
	uint64_t b = d->bytes;
	pthread_mutex_unlock(&d->mu);
	return b;
}

static void
disk_destroy(void *impl)
{
	struct cache_disk *d = impl;
	if (d == NULL)
		return;
	while (d->tail) {
		struct dnode *n = d->tail;
		dremove(d, n);
		free(n);
	}
	pthread_mutex_destroy(&d->mu);
	free(d);
}

static const struct cache_tier_ops disk_ops = {
        .name = "disk",
        .lookup = disk_lookup,
        .insert = disk_insert,
        .bytes = disk_bytes,
        .destroy = disk_destroy,
};

static int
mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] == '/' || p[i] == '\0') {
			char c = p[i];
			p[i] = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST)
				return -errno;
			p[i] = c;
		}
	}
	return 0;
}

static int
is_hex2(const char *s)
{
	for (int i = 0; i < 2; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[2] == '\0';
}

/* Index existing files (size only) and drop leftovers in tmp/. */
static int
disk_scan(struct cache_disk *d)
{
	char path[PATH_MAX];
	DIR *top = opendir(d->dir);
	struct dirent *de;
	uint64_t files = 0;

	if (top == NULL)
		return -errno;
	while ((de = readdir(top)) != NULL) {
		if (!is_hex2(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->dir, de->d_name);
		DIR *sub = opendir(path);
		if (sub == NULL)
			continue;
		struct dirent *fe;
		while ((fe = readdir(sub)) != NULL) {
			struct stat st;
			if (!cid_valid(fe->d_name) || memcmp(fe->d_name, de->d_name, 2) != 0)
				continue;
			if (fstatat(dirfd(sub), fe->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
				continue;
			if (dadd(d, fe->d_name, (uint64_t)st.st_size, false) == 0)
				files++;
		}
		closedir(sub);
	}
	closedir(top);

	snprintf(path, sizeof(path), "%s/tmp", d->dir);
	DIR *t = opendir(path);
	if (t) {
		while ((de = readdir(t)) != NULL)
			if (de->d_name[0] != '.')
				unlinkat(dirfd(t), de->d_name, 0);
		closedir(t);
	}
	struct dnode *victims = evict_for(d, 0);
	unlink_victims(d, victims);
	log_info("disk cache \"%s\": %llu files, %llu bytes indexed (verified lazily)", d->dir,
	         (unsigned long long)files, (unsigned long long)d->bytes);
	return 0;
}

int
cache_disk_new(const char *dir, uint64_t capacity, struct cache_tier *out)
{
	struct cache_disk *d = NULL;
	char tmp[PATH_MAX];
	int rc;

	if (strlen(dir) >= sizeof(d->dir))
		return -ENAMETOOLONG;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	memcpy(d->dir, dir, strlen(dir) + 1);
	d->cap = capacity;
	pthread_mutex_init(&d->mu, NULL);
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	rc = mkdir_p(tmp);
	if (rc == 0)
		rc = disk_scan(d);
	if (rc != 0) {
		disk_destroy(d);
		return rc;
	}
	out->ops = &disk_ops;
	out->impl = d;
	return 0;
}
