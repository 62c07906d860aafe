/*
 * store_priv.h — internals shared by store.c, store_blob.c, store_maint.c and
 * store_json.c. Not a public contract.
 *
 * LMDB layout (one environment in DIR/index, named databases):
 *   segments  key  stream '\0' variant '\0' be64(start_us ^ sign bit)
 *             val  packed record without the key fields (rec_pack)
 *   blobs     key  32 raw SHA-256 bytes
 *             val  le64 size, le64 refcount
 *   streams   key  stream '\0' variant
 *             val  packed variant info (vinfo_pack), one row per variant
 *   changes   key  be64 local seq (from 1)
 *             val  u8 op, then the full packed record with key fields
 *   cursors   key  peer string          val le64 seq
 *   meta      key  string               val bytes
 *   info      key  "blob_bytes"          val le64 (sum of blob-db sizes)
 */
#ifndef SLUICE_STORE_PRIV_H
#define SLUICE_STORE_PRIV_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "store/store.h"

#define STORE_MAGIC        0x53544f52u  /* "STOR" */
#define STORE_MAP_SIZE     (64ULL << 30) /* sparse; grows on demand */
#define STORE_MAX_DBS      8
#define STORE_MAX_READERS  1024
#define STORE_PATH_MAX     4096
#define STORE_DIR_MAX      3000          /* longest accepted store dir path */
#define STORE_KEY_MAX      (STORE_STREAM_MAX + 1 + STORE_VARIANT_MAX + 1 + 8)
#define STORE_PACK_MAX     1024          /* bytes of a packed record */
#define STORE_CID_RAW      32
#define STORE_PEER_MAX     255
#define STORE_META_KEY_MAX 511           /* LMDB default max key size */
#define STORE_CHANGES_MAX  100000        /* most changes one call returns */
#define STORE_DURATION_MAX_US (86400LL * 1000000LL)  /* one day */
#define STORE_ORPHAN_GRACE_US (3600LL * 1000000LL)   /* orphan blob file age */
#define STORE_TMP_STALE_US    (3600LL * 1000000LL)   /* tmp file age */

/* One open LMDB environment per index directory per process. */
struct store_env {
	dev_t dev;
	ino_t ino;
	unsigned refs;
	MDB_env *env;
	MDB_dbi segments, blobs, streams, changes, cursors, meta, info;
	struct store_env *next;
};

struct store {
	unsigned magic;
	bool readonly;
	char dir[STORE_DIR_MAX + 1];
	char node[STORE_NODE_LEN + 1];
	struct store_env *e;
};

/* Per-variant row of the streams database. */
struct vinfo {
	char tenant[STORE_TENANT_MAX + 1];
	char codecs[STORE_CODECS_MAX + 1];
	uint64_t bandwidth;
	uint32_t width, height;
	int64_t first_us, last_us;
	uint64_t segments;
	int64_t max_duration_us;
	uint64_t next_seq;
};

/* Files moved to tmp/ inside a write txn, unlinked after it commits. */
struct trash {
	size_t n, cap;
	char (*cid)[CID_BUF_LEN];
	uint64_t *nonce;                  /* makes each trash name unique */
};

int store_mdb_err(int rc, const char *what);

/* Codec. */
size_t store_seg_key(char *key, const char *stream, const char *variant, int64_t start_us);
int store_rec_unpack(const void *val, size_t len, struct store_record *r);
size_t store_rec_pack(const struct store_record *r, unsigned char *buf);
int store_seg_key_parse(const void *key, size_t len, struct store_record *r);
int store_hex_to_raw(const char *hex, unsigned char raw[STORE_CID_RAW]);
void store_raw_to_hex(const unsigned char raw[STORE_CID_RAW], char hex[CID_BUF_LEN]);
uint64_t store_get_le64(const unsigned char *p);
void store_put_le64(unsigned char *p, uint64_t v);
int store_vinfo_get(struct store *s, MDB_txn *txn, const char *stream,
                    const char *variant, struct vinfo *vi);
int store_vinfo_put(struct store *s, MDB_txn *txn, const char *stream,
                    const char *variant, const struct vinfo *vi);

/* Blob refcounts inside a write txn (delta +1/-1). At zero the entry goes
 * and the blob file is moved to the trash. */
int store_blob_ref(struct store *s, MDB_txn *txn, const char *cid, uint64_t size,
                   int delta, struct trash *t);
/* Remove a record (known to exist with value r) inside a write txn. */
int store_rec_remove(struct store *s, MDB_txn *txn, const struct store_record *r,
                     struct trash *t);
int store_change_append(struct store *s, MDB_txn *txn, enum store_op op,
                        const struct store_record *r);

/* Trash: move a blob file away inside a txn; commit or roll back after. */
int store_trash_add(struct store *s, struct trash *t, const char *cid);
void store_trash_commit(struct store *s, struct trash *t);
void store_trash_rollback(struct store *s, struct trash *t);
void store_trash_free(struct trash *t);

int store_tmp_name(const struct store *s, const char *tag, char *buf, size_t len);
bool store_tmp_is_stale(const char *name, int64_t mtime_us, int64_t now_us);
int64_t store_now_us(void);

#endif
