/*
 * store_blob.c — blob files: put (memory or fd), open, stat, path, and the
 * trash used when a reference count reaches zero.
 *
 * Model: a blob is written like a git loose object: bytes go to a fresh file
 * tmp/blob-<pid>-<random> while being hashed, the file is fsynced, renamed
 * (without replacing) to blobs/<ab>/<cid>, and the fan-out directory is
 * fsynced. An existing target means the bytes are already stored: the temp
 * file is dropped and the existing file's mtime is touched (so that gc's
 * orphan sweep, which goes by mtime, leaves a blob that is about to get a
 * record alone). Any failure removes the temp file.
 *
 * Trash: a write transaction that drops the last reference to a blob renames
 * its file to tmp/gc-<pid>-<cid>; after commit the trash is unlinked, after
 * abort it is renamed back. So no blob file goes away before the index says
 * it may.
 */
#include "store/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

#define STORE_IO_CHUNK  (256 * 1024)
#define STORE_BLOB_MAX  (1ULL << 32)   /* 4 GiB: far beyond any segment */
#define STORE_TMP_RAND  8

int
store_blob_path(const struct store *s, const char *cid, char *buf, size_t len)
{
	int n;

	if (!cid_valid(cid))
		return -EINVAL;
	n = snprintf(buf, len, "%s/blobs/%.2s/%s", s->dir, cid, cid);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int
store_tmp_name(const struct store *s, const char *tag, char *buf, size_t len)
{
	unsigned char raw[STORE_TMP_RAND];
	char hex[2 * STORE_TMP_RAND + 1];
	int n;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (int i = 0; i < STORE_TMP_RAND; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	n = snprintf(buf, len, "%s/tmp/%s-%ld-%s", s->dir, tag, (long)getpid(), hex);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * A tmp/ entry is stale when the process named in it ("tag-<pid>-…") is
 * gone, or it is older than STORE_TMP_STALE_US.
 */
bool
store_tmp_is_stale(const char *name, int64_t mtime_us, int64_t now_us)
{
	const char *dash = strchr(name, '-');
	char *end = NULL;
	long pid;

	if (now_us - mtime_us > STORE_TMP_STALE_US)
		return true;
	if (dash == NULL)
		return false;
	pid = strtol(dash + 1, &end, 10);
	if (end == dash + 1 || *end != '-' || pid <= 0)
		return false;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int
io_err(int e)
{
	return (e == ENOSPC || e == EDQUOT) ? -ENOSPC : -e;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return io_err(errno);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
fsync_dir_of(const char *path)
{
	char dir[STORE_PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (slash == NULL || (size_t)(slash - path) >= sizeof(dir))
		return -EINVAL;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = io_err(errno);
	close(fd);
	return rc;
}

/* Touch an existing blob; -ENOENT if it is not there. */
static int
blob_touch(const char *path)
{
	if (utimensat(AT_FDCWD, path, NULL, 0) == 0)
		return 0;
	if (errno == ENOENT)
		return -ENOENT;
	/* Read-only file systems etc.: existence is what matters. */
	return access(path, F_OK) == 0 ? 0 : -errno;
}

/*
 * Move the fsynced temp file into place; *created false when the blob was
 * already there (the temp file is then removed).
 */
static int
blob_commit(const char *tmp, const char *path, bool *created)
{
	char dir[STORE_PATH_MAX];
	const char *slash;
	int rc;

	*created = false;
	rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
	if (rc != 0 && errno == ENOENT) {
		/* Fan-out directory missing (hand-made store): create it. */
		slash = strrchr(path, '/');
		if (slash != NULL && (size_t)(slash - path) < sizeof(dir)) {
			memcpy(dir, path, (size_t)(slash - path));
			dir[slash - path] = '\0';
			if (mkdir(dir, 0755) != 0 && errno != EEXIST)
				return -errno;
			fsync_dir_of(dir);
		}
		rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
	}
	if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
		/* No RENAME_NOREPLACE here: link() fails on an existing name. */
		rc = link(tmp, path);
		if (rc == 0)
			unlink(tmp);
	}
	if (rc != 0) {
		if (errno == EEXIST) {
			unlink(tmp);
			return blob_touch(path);
		}
		return io_err(errno);
	}
	*created = true;
	return fsync_dir_of(path);
}

int
store_blob_put(struct store *s, const void *buf, size_t len, const char *expect_cid,
               char cid_out[CID_BUF_LEN], bool *created)
{
	char cid[CID_BUF_LEN], path[STORE_PATH_MAX], tmp[STORE_PATH_MAX];
	bool made = false;
	int fd = -1, rc;

	if (created != NULL)
		*created = false;
	if (s->readonly)
		return -EROFS;
	if ((buf == NULL && len > 0) || (expect_cid != NULL && !cid_valid(expect_cid)))
		return -EINVAL;
	if (len > STORE_BLOB_MAX)
		return -EFBIG;
	if ((rc = cid_of(buf, len, cid)) != 0)
		return rc;
	if (expect_cid != NULL && strcmp(cid, expect_cid) != 0)
		return -EBADMSG;
	if ((rc = store_blob_path(s, cid, path, sizeof(path))) != 0)
		return rc;
	if (blob_touch(path) == 0)
		goto done;
	if ((rc = store_tmp_name(s, "blob", tmp, sizeof(tmp))) != 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return io_err(errno);
	rc = write_all(fd, buf, len);
	if (rc == 0 && fsync(fd) != 0)
		rc = io_err(errno);
	if (close(fd) != 0 && rc == 0)
		rc = io_err(errno);
	if (rc == 0)
		rc = blob_commit(tmp, path, &made);
	if (rc != 0) {
		unlink(tmp);
		log_debug("store: put blob \"%s\": %s", cid, strerror(-rc));
		return rc;
	}
done:
	if (cid_out != NULL)
		memcpy(cid_out, cid, CID_BUF_LEN);
	if (created != NULL)
		*created = made;
	return 0;
}

int
store_blob_put_fd(struct store *s, int fd, const char *expect_cid, char cid_out[CID_BUF_LEN],
                  uint64_t *size_out, bool *created)
{
	char cid[CID_BUF_LEN], path[STORE_PATH_MAX], tmp[STORE_PATH_MAX];
	struct cid_hasher h = { 0 };
	unsigned char *buf = NULL;
	uint64_t total = 0;
	bool made = false, have_tmp = false;
	int out = -1, rc;

	if (created != NULL)
		*created = false;
	if (s->readonly)
		return -EROFS;
	if (fd < 0 || (expect_cid != NULL && !cid_valid(expect_cid)))
		return -EINVAL;
	buf = malloc(STORE_IO_CHUNK);
	if (buf == NULL)
		return -ENOMEM;
	if ((rc = cid_hasher_init(&h)) != 0)
		goto out;
	if ((rc = store_tmp_name(s, "blob", tmp, sizeof(tmp))) != 0)
		goto out;
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = io_err(errno);
		goto out;
	}
	have_tmp = true;
	for (;;) {
		ssize_t n = read(fd, buf, STORE_IO_CHUNK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > STORE_BLOB_MAX) {
			rc = -EFBIG;
			goto out;
		}
		if ((rc = cid_hasher_update(&h, buf, (size_t)n)) != 0 ||
		    (rc = write_all(out, buf, (size_t)n)) != 0)
			goto out;
	}
	if ((rc = cid_hasher_final(&h, cid)) != 0)
		goto out;
	if (expect_cid != NULL && strcmp(cid, expect_cid) != 0) {
		rc = -EBADMSG;
		goto out;
	}
	if ((rc = store_blob_path(s, cid, path, sizeof(path))) != 0)
		goto out;
	if (blob_touch(path) == 0)
		goto out;   /* already stored; the temp file goes below */
	if (fsync(out) != 0) {
		rc = io_err(errno);
		goto out;
	}
	rc = close(out) == 0 ? 0 : io_err(errno);
	out = -1;
	if (rc == 0)
		rc = blob_commit(tmp, path, &made);
	if (rc == 0)
		have_tmp = false;
out:
	cid_hasher_abort(&h);
	if (out >= 0)
		close(out);
	if (have_tmp)
		unlink(tmp);
	free(buf);
	if (rc != 0)
		return rc;
	if (cid_out != NULL)
		memcpy(cid_out, cid, CID_BUF_LEN);
	if (size_out != NULL)
		*size_out = total;
	if (created != NULL)
		*created = made;
	return 0;
}

int
store_blob_open(struct store *s, const char *cid, int *fd, uint64_t *size)
{
	char path[STORE_PATH_MAX];
	struct stat st;
	int f, rc;

	*fd = -1;
	if ((rc = store_blob_path(s, cid, path, sizeof(path))) != 0)
		return rc;
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (fstat(f, &st) != 0) {
		rc = -errno;
		close(f);
		return rc;
	}
	*fd = f;
	if (size != NULL)
		*size = (uint64_t)st.st_size;
	return 0;
}

int
store_blob_stat(struct store *s, const char *cid, uint64_t *size_out)
{
	char path[STORE_PATH_MAX];
	struct stat st;
	int rc;

	if ((rc = store_blob_path(s, cid, path, sizeof(path))) != 0)
		return rc;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (size_out != NULL)
		*size_out = (uint64_t)st.st_size;
	return 0;
}

/* ---- trash ---- */

static int
trash_path(struct store *s, const char *cid, uint64_t nonce, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/tmp/gc-%ld-%016llx-%s", s->dir, (long)getpid(),
	                 (unsigned long long)nonce, cid);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int
store_trash_add(struct store *s, struct trash *t, const char *cid)
{
	char from[STORE_PATH_MAX], to[STORE_PATH_MAX];
	uint64_t nonce;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *a = realloc(t->cid, cap * sizeof(*t->cid)), *b;

		if (a == NULL)
			return -ENOMEM;
		t->cid = a;
		b = realloc(t->nonce, cap * sizeof(*t->nonce));
		if (b == NULL)
			return -ENOMEM;
		t->nonce = b;
		t->cap = cap;
	}
	if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return -EIO;
	if (store_blob_path(s, cid, from, sizeof(from)) != 0 ||
	    trash_path(s, cid, nonce, to, sizeof(to)) != 0)
		return -EINVAL;
	if (rename(from, to) != 0) {
		if (errno == ENOENT)
			return 0;   /* already gone: nothing to remove */
		log_error("store: move blob \"%s\" to trash: %s", cid, strerror(errno));
		return -EIO;
	}
	memcpy(t->cid[t->n], cid, CID_BUF_LEN);
	t->nonce[t->n] = nonce;
	t->n++;
	return 0;
}

void
store_trash_commit(struct store *s, struct trash *t)
{
	char to[STORE_PATH_MAX];

	for (size_t i = 0; i < t->n; i++) {
		if (trash_path(s, t->cid[i], t->nonce[i], to, sizeof(to)) != 0)
			continue;
		if (unlink(to) != 0 && errno != ENOENT)
			log_warn("store: unlink \"%s\": %s", to, strerror(errno));
	}
	t->n = 0;
}

void
store_trash_rollback(struct store *s, struct trash *t)
{
	char from[STORE_PATH_MAX], to[STORE_PATH_MAX];

	for (size_t i = 0; i < t->n; i++) {
		if (trash_path(s, t->cid[i], t->nonce[i], to, sizeof(to)) != 0 ||
		    store_blob_path(s, t->cid[i], from, sizeof(from)) != 0)
			continue;
		if (rename(to, from) != 0)
			log_error("store: restore blob \"%s\": %s", t->cid[i], strerror(errno));
	}
	t->n = 0;
}

void
store_trash_free(struct trash *t)
{
	free(t->cid);
	free(t->nonce);
	memset(t, 0, sizeof(*t));
}
