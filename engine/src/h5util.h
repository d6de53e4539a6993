/* What the engine's HDF5 modules share: results.c (writes result files), rfile.c (reads any
 * HDF5 file) and h5data.c (reads and writes data sets). Internal to the engine: the header
 * lives beside the sources, on the engine's private include path, and names nothing public.
 *
 *   - HDF5's error stack: silencing its printing, and its innermost message for ours;
 *   - the bytes of a file (or an in-memory image) that the readers check before libhdf5 sees
 *     them, and where the HDF5 superblock starts;
 *   - writing a file under a temporary name and putting it in place when complete. */
#ifndef MOONLAB_H5UTIL_H
#define MOONLAB_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

/* 1 where HDF5 has H5Pset_file_locking (1.10.7 and 1.12.1 on), 0 before. */
#if (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7) || \
    H5_VERSION_GE(1, 12, 1)
#define ML__H5_FILE_LOCKING 1
#else
#define ML__H5_FILE_LOCKING 0
#endif

/* ---- errors ---- */

/* Turns off HDF5's printing of its error stack to stderr: the engine reports through the error
 * table instead. The setting is library-global and another part of the program may turn
 * printing back on, so every entry point of the HDF5 modules calls this first. */
void ml__h5_quiet(void);

/* Writes the innermost entry of HDF5's error stack into why (n bytes, NUL-terminated): the one
 * that says what actually went wrong ("errno = 2, ...", "name already exists"); the outer ones
 * only repeat "unable to create ...". That is the entry's description; when it has none and
 * `fallback` is set, the text of its minor error number, else "error in <function>". why is left
 * as it was when the stack is empty (and, without fallback, when the entry has no description),
 * so the caller's default stands. Must run right after the failing call: the next HDF5 call,
 * even a close, clears the stack. */
void ml__h5_why(char *why, size_t n, int fallback);

/* Closes *id with `closer` (H5Dclose, H5Sclose, ...) if it is open, and marks it closed. */
void ml__h5_close(hid_t *id, herr_t (*closer)(hid_t));

/* ---- reading a file another module wrote ---- */

/* The HDF5 file id of a file ml_rfile_open checked and opened (rfile.c), for a module that
 * hands the file to HDF5 itself (results.c copies objects out of it). Owned by the reader. */
struct ml_rfile;
hid_t ml__rfile_hid(const struct ml_rfile *f);

/* ---- the bytes of a file, before libhdf5 reads it ---- */

/* A file open at fd, or an image in memory (mem non-NULL, fd unused); size bytes either way. */
typedef struct {
    const unsigned char *mem;
    int fd;
    uint64_t size;
} ml__h5_source_t;

/* Copies the n bytes at off into buf; 0 when they are not all inside the source, or cannot be
 * read (errno then says why). */
int ml__h5_read_at(const ml__h5_source_t *src, uint64_t off, void *buf, size_t n);

/* The n-byte little-endian number at p; UINT64_MAX when n > 8 and it does not fit 64 bits. */
uint64_t ml__h5_le(const unsigned char *p, int n);

/* Where the HDF5 superblock starts (byte 0, 512, 1024, 2048, ...: after a user block): *off and
 * 1, or 0 when no HDF5 signature is at any of these. */
int ml__h5_find_superblock(const ml__h5_source_t *src, uint64_t *off);

/* ---- writing a file under a temporary name ---- */

/* A file access list for creating a file that a writer then closes and renames: a strong close
 * (closing the file closes everything still open in it, so the file is really released before
 * it is synced and renamed), and file locking that is skipped on file systems without it (some
 * NFS, Lustre would otherwise make every create fail). H5I_INVALID_HID when HDF5 cannot make
 * one (its error stack says why). The caller closes it. */
hid_t ml__h5_write_fapl(void);

/* The name `path` is written under until it is complete: ".<name>.tmp-<pid>" in path's
 * directory. The same file system, so the final rename is atomic; hidden, so a glob for
 * results does not pick up a half-written one. path must end in a file name. malloc'd (the
 * caller frees it); NULL when out of memory. */
char *ml__tmp_path(const char *path);

/* Pushes a file's (is_dir 0) or a directory's (1) contents to disk: 0, or -1 with errno set.
 * A directory whose file system cannot fsync directories counts as synced. */
int ml__sync_path(const char *path, int is_dir);

/* Puts the complete file tmp in place as path: syncs it, then renames it over path. 0, or -1
 * with errno set and *step naming what failed ("syncing" or "renaming"); tmp is then left for
 * the caller to remove. The directory is not synced: whether its failure matters is the
 * caller's to say (ml__sync_path). */
int ml__move_into_place(const char *tmp, const char *path, const char **step);

#endif
