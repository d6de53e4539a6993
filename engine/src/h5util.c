/* What the engine's HDF5 modules share (h5util.h). */
#include "h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- errors ---- */

void ml__h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct {
    char *buf;
    size_t n;
    int fallback;
} why_t;

/* libhdf5's file driver describes a failed system call as "file write failed: time = ...,
 * filename = '...', file descriptor = 4, errno = 28, error message = 'No space left on device',
 * buf = 0x..., total write size = ...": only "file write failed: No space left on device" says
 * anything to a user (our messages name the file). Other descriptions are kept as they are. */
static void shorten_system_error(char *buf, size_t n, const char *desc)
{
    static const char key[] = "error message = '";
    const char *colon = strchr(desc, ':');
    const char *msg = strstr(desc, key);
    const char *end = msg ? strchr(msg + sizeof key - 1, '\'') : NULL;
    if (!colon || !msg || colon > msg || !end) {
        snprintf(buf, n, "%s", desc);
        return;
    }
    msg += sizeof key - 1;
    snprintf(buf, n, "%.*s: %.*s", (int)(colon - desc), desc, (int)(end - msg), msg);
}

static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    why_t *w = data;
    if (n != 0)
        return 0;
    if (e->desc && e->desc[0]) {
        shorten_system_error(w->buf, w->n, e->desc);
    } else if (w->fallback) {
        H5E_type_t kind;
        if (H5Eget_msg(e->min_num, &kind, w->buf, w->n) < 0)
            snprintf(w->buf, w->n, "error in %s", e->func_name ? e->func_name : "HDF5");
    }
    return 0;
}

void ml__h5_why(char *why, size_t n, int fallback)
{
    why_t w = {why, n, fallback};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &w);
}

void ml__h5_close(hid_t *id, herr_t (*closer)(hid_t))
{
    if (*id >= 0)
        closer(*id);
    *id = H5I_INVALID_HID;
}

/* ---- the bytes of a file ---- */

int ml__h5_read_at(const ml__h5_source_t *src, uint64_t off, void *buf, size_t n)
{
    if (off > src->size || n > src->size - off)
        return 0;
    if (src->mem) {
        memcpy(buf, src->mem + off, n);
        return 1;
    }
    return pread(src->fd, buf, n, (off_t)off) == (ssize_t)n;
}

uint64_t ml__h5_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        if (i >= 8 && p[i]) /* 16- or 32-byte lengths: anything above 64 bits is too big */
            return UINT64_MAX;
        if (i < 8)
            v = v << 8 | p[i];
    }
    return v;
}

int ml__h5_find_superblock(const ml__h5_source_t *src, uint64_t *off)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char buf[8];
    for (uint64_t o = 0; src->size >= 8 && o <= src->size - 8; o = o ? o * 2 : 512) {
        if (ml__h5_read_at(src, o, buf, 8) && memcmp(buf, signature, 8) == 0) {
            *off = o;
            return 1;
        }
    }
    return 0;
}

/* ---- writing a file under a temporary name ---- */

hid_t ml__h5_write_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return H5I_INVALID_HID;
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if ML__H5_FILE_LOCKING
    H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}

char *ml__tmp_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dirlen = (size_t)(base - path); /* including the trailing slash */
    size_t len = dirlen + 1 + strlen(base) + 32;
    char *tmp = malloc(len);
    if (tmp)
        snprintf(tmp, len, "%.*s.%s.tmp-%ld", (int)dirlen, path, base, (long)getpid());
    return tmp;
}

int ml__sync_path(const char *path, int is_dir)
{
    int fd = open(path, O_RDONLY | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return -1;
    int st = fsync(fd);
    /* Some file systems cannot fsync a directory; that is no reason to fail a write. */
    if (st != 0 && is_dir && (errno == EINVAL || errno == ENOTSUP))
        st = 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return st;
}

int ml__move_into_place(const char *tmp, const char *path, const char **step)
{
    if (ml__sync_path(tmp, 0) != 0) {
        *step = "syncing";
        return -1;
    }
    if (rename(tmp, path) != 0) {
        *step = "renaming";
        return -1;
    }
    return 0;
}
