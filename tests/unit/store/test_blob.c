/*
 * test_blob.c — blob put/open from memory and fd, dedup, expected-CID check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include "store/cid.h"
#include "store_test_util.h"

#define HELLO_CID "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define BIG_SIZE (1024 * 1024 + 123)

static size_t
count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_cid(void **state)
{
	char out[CID_BUF_LEN];
	struct cid_hasher h;

	(void)state;
	assert_int_equal(cid_of("hello", 5, out), 0);
	assert_string_equal(out, HELLO_CID);
	assert_int_equal(cid_hasher_init(&h), 0);
	assert_int_equal(cid_hasher_update(&h, "he", 2), 0);
	assert_int_equal(cid_hasher_update(&h, "llo", 3), 0);
	assert_int_equal(cid_hasher_final(&h, out), 0);
	assert_string_equal(out, HELLO_CID);
	cid_hasher_abort(&h);
	assert_true(cid_valid(HELLO_CID));
	assert_false(cid_valid("2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"));
	assert_false(cid_valid(HELLO_CID "0"));
	assert_false(cid_valid("abc"));
	assert_true(cid_valid_n(HELLO_CID "xyz", 64));
}

static void
test_blob_mem_roundtrip(void **state)
{
	struct fixture *f = *state;
	char cid[CID_BUF_LEN], buf[16], path[512];
	bool created = false;
	uint64_t size = 0;
	int fd = -1;

	assert_int_equal(store_blob_put(f->s, "hello", 5, NULL, cid, &created), 0);
	assert_string_equal(cid, HELLO_CID);
	assert_true(created);
	assert_int_equal(store_blob_open(f->s, cid, &fd, &size), 0);
	assert_int_equal(size, 5);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	close(fd);
	/* Layout: blobs/2c/<cid>. */
	assert_int_equal(store_blob_path(f->s, cid, path, sizeof(path)), 0);
	assert_non_null(strstr(path, "/blobs/2c/" HELLO_CID));
	assert_int_equal(access(path, R_OK), 0);
	/* Idempotent. */
	assert_int_equal(store_blob_put(f->s, "hello", 5, HELLO_CID, cid, &created), 0);
	assert_false(created);
	assert_int_equal(store_blob_stat(f->s, HELLO_CID, &size), 0);
	assert_int_equal(size, 5);
	snprintf(path, sizeof(path), "%s/tmp", f->dir);
	assert_int_equal(count_dir(path), 0);
}

static void
test_blob_fd_roundtrip(void **state)
{
	struct fixture *f = *state;
	char cid[CID_BUF_LEN], want[CID_BUF_LEN], path[512];
	unsigned char *data = malloc(BIG_SIZE), *back = malloc(BIG_SIZE);
	uint64_t size = 0;
	bool created = false;
	int fd, rfd;
	ssize_t got = 0, n;

	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < BIG_SIZE; i++)
		data[i] = (unsigned char)(i * 31 + 7);
	snprintf(path, sizeof(path), "%s/../input.bin", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, BIG_SIZE), BIG_SIZE);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(store_blob_put_fd(f->s, fd, NULL, cid, &size, &created), 0);
	assert_int_equal(size, BIG_SIZE);
	assert_true(created);
	assert_int_equal(cid_of(data, BIG_SIZE, want), 0);
	assert_string_equal(cid, want);
	/* Same bytes from fd again: not created, same cid. */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(store_blob_put_fd(f->s, fd, want, cid, &size, &created), 0);
	assert_false(created);
	close(fd);
	assert_int_equal(store_blob_open(f->s, cid, &rfd, &size), 0);
	while ((n = read(rfd, back + got, BIG_SIZE - (size_t)got)) > 0)
		got += n;
	close(rfd);
	assert_int_equal(got, BIG_SIZE);
	assert_memory_equal(data, back, BIG_SIZE);
	snprintf(path, sizeof(path), "%s/tmp", f->dir);
	assert_int_equal(count_dir(path), 0);
	free(data);
	free(back);
}

static void
test_blob_expect_mismatch(void **state)
{
	struct fixture *f = *state;
	char cid[CID_BUF_LEN], path[512];
	int fd;

	assert_int_equal(store_blob_put(f->s, "hellp", 5, HELLO_CID, cid, NULL), -EBADMSG);
	assert_int_equal(store_blob_stat(f->s, HELLO_CID, NULL), -ENOENT);
	assert_int_equal(cid_of("hellp", 5, cid), 0);
	assert_int_equal(store_blob_stat(f->s, cid, NULL), -ENOENT);
	/* From an fd as well. */
	snprintf(path, sizeof(path), "%s/../x.bin", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hellp", 5), 5);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(store_blob_put_fd(f->s, fd, HELLO_CID, cid, NULL, NULL), -EBADMSG);
	close(fd);
	assert_int_equal(store_blob_stat(f->s, HELLO_CID, NULL), -ENOENT);
	snprintf(path, sizeof(path), "%s/tmp", f->dir);
	assert_int_equal(count_dir(path), 0);
	/* Bad arguments. */
	assert_int_equal(store_blob_put(f->s, "x", 1, "nothex", cid, NULL), -EINVAL);
	assert_int_equal(store_blob_open(f->s, "short", &fd, NULL), -EINVAL);
	assert_int_equal(store_blob_open(f->s, HELLO_CID, &fd, NULL), -ENOENT);
	assert_int_equal(fd, -1);
}

static void
test_blob_dedup_refcount(void **state)
{
	struct fixture *f = *state;
	struct store_record a, b;
	struct store_stats st;
	struct store_fsck_report rep;
	char cid[CID_BUF_LEN], cid2[CID_BUF_LEN], path[512];

	assert_int_equal(store_blob_put(f->s, "same bytes", 10, NULL, cid, NULL), 0);
	assert_int_equal(store_blob_put(f->s, "same bytes", 10, NULL, cid2, NULL), 0);
	assert_string_equal(cid, cid2);
	snprintf(path, sizeof(path), "%s/blobs/%.2s", f->dir, cid);
	assert_int_equal(count_dir(path), 1);
	mkrec(&a, "cam", "src", 0, 2, cid);
	mkrec(&b, "cam", "src", 2, 2, cid);
	assert_int_equal(store_record_put(f->s, &a, 0, NULL, NULL), 0);
	assert_int_equal(store_record_put(f->s, &b, 0, NULL, NULL), 0);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.records, 2);
	assert_int_equal(st.blobs, 1);
	assert_int_equal(st.blob_bytes, 10);
	assert_int_equal(store_fsck(f->s, false, &rep), 0);
	assert_int_equal(rep.bad_refcount, 0);
	assert_int_equal(rep.blobs_checked, 1);
	assert_int_equal(rep.records_checked, 2);
}

static void
test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL, *s2 = NULL;
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/../missing", f->dir);
	assert_int_equal(store_open(path, 0, &s), -ENOENT);
	assert_null(s);
	/* A directory that is not a store. */
	snprintf(path, sizeof(path), "%s/../plain", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(store_open(path, 0, &s), -ENOTDIR);
	/* init refuses a non-empty foreign directory. */
	snprintf(path, sizeof(path), "%s/../plain/file", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/../plain", f->dir);
	assert_int_equal(store_init(path), -ENOTDIR);
	/* A second handle on the same store in this process shares the env. */
	assert_int_equal(store_open(f->dir, 0, &s), 0);
	assert_int_equal(store_open(f->dir, STORE_OPEN_READONLY, &s2), 0);
	assert_string_equal(store_node_id(s), store_node_id(f->s));
	assert_int_equal(strlen(store_node_id(s)), 32);
	assert_int_equal(store_blob_put(s2, "x", 1, NULL, path, NULL), -EROFS);
	store_close(&s2);
	assert_null(s2);
	assert_int_equal(store_blob_put(s, "x", 1, NULL, path, NULL), 0);
	store_close(&s);
	store_close(&s);   /* NULL-safe */
	/* init is idempotent. */
	assert_int_equal(store_init(f->dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cid),
		cmocka_unit_test_setup_teardown(test_blob_mem_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_fd_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_expect_mismatch, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_dedup_refcount, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
