/* safetensors files (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw little-endian data.
 *
 * Reading is defensive: every offset, shape and size is checked against the
 * file, and any inconsistency is reported as one error naming the file.
 * Writing is atomic: the data goes to PATH.tmp.XXXXXX, is fsync'ed, and is
 * renamed over PATH, so a crash never leaves a half-written PATH.
 * Thread-safety: distinct vsml_st objects may be used from distinct threads. */
#ifndef VSML_SAFETENSORS_H
#define VSML_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum vsml_dtype {
    VSML_F32 = 0,
    VSML_I32 = 1,
    VSML_U8 = 2,
    VSML_F64 = 3,
    VSML_I64 = 4,
};

size_t vsml_dtype_size(enum vsml_dtype dt);
const char *vsml_dtype_name(enum vsml_dtype dt); /* "F32", "I32", ... */

#define VSML_ST_MAX_DIMS 8
#define VSML_ST_MAX_NAME 128

typedef struct vsml_tensor {
    char name[VSML_ST_MAX_NAME];
    enum vsml_dtype dtype;
    int ndim;
    int64_t shape[VSML_ST_MAX_DIMS];
    void *data;    /* nbytes bytes, little-endian */
    size_t nbytes; /* product(shape) * dtype size */
} vsml_tensor;

typedef struct vsml_st_meta {
    char *key;
    char *value;
} vsml_st_meta;

/* A parsed file: owns every tensor's data and the metadata strings. */
typedef struct vsml_st {
    int n_tensors;
    vsml_tensor *tensors;
    int n_meta;
    vsml_st_meta *meta; /* the "__metadata__" object (string values only) */
} vsml_st;

/* Parse a whole file image. `what` names the source in error messages. */
int vsml_st_parse(const uint8_t *buf, size_t len, const char *what, vsml_st *out);
/* Read and parse PATH. Returns 0 on success; on failure logs one error. */
int vsml_st_read(const char *path, vsml_st *out);
void vsml_st_free(vsml_st *st);

const vsml_tensor *vsml_st_find(const vsml_st *st, const char *name);
const char *vsml_st_get_meta(const vsml_st *st, const char *key);

/* Write tensors (data borrowed) and string metadata atomically to PATH.
 * meta may be NULL when n_meta is 0. */
int vsml_st_write(const char *path, const vsml_tensor *tensors, int n_tensors,
                  const vsml_st_meta *meta, int n_meta);

#endif
