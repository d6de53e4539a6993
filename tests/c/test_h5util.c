/* The helpers the HDF5 modules share (engine/src/h5util.h): the innermost HDF5 error and the
 * caller's default when there is none, closing ids, reading a file or an image at an offset,
 * little-endian numbers of 2 to 32 bytes, finding the superblock after a user block, the
 * temporary name beside a path, the write access list, and putting a file in place (and which
 * step failed when it cannot be). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "h5util.h"

static char dir[64];

static const char *path_of(const char *name)
{
    static char paths[8][128];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void write_file(const char *p, const void *data, size_t n)
{
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, n, f) == n);
        fclose(f);
    }
}

static void test_errors(void)
{
    ml__h5_quiet();
    char why[256] = "default";
    hid_t f = H5Fopen(path_of("missing.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f < 0);
    ml__h5_why(why, sizeof why, 1);
    CHECK_MSG(why[0] && strcmp(why, "default") != 0, "why = '%s'", why);
    /* the stack is cleared by the next call that succeeds: the default stands */
    hid_t p = H5Pcreate(H5P_FILE_ACCESS);
    CHECK(p >= 0);
    strcpy(why, "default");
    ml__h5_why(why, sizeof why, 1);
    CHECK(strcmp(why, "default") == 0);
    strcpy(why, "");
    ml__h5_why(why, sizeof why, 0);
    CHECK(why[0] == '\0');
    /* a failed system call is its first words and the system's message, without the rest of
     * libhdf5's description (time, file descriptor, buffer address, sizes) */
    H5Epush2(H5E_DEFAULT, __FILE__, "test", __LINE__, H5E_ERR_CLS, H5E_IO, H5E_WRITEERROR,
             "file write failed: time = Mon Dec  7 13:12:53 2026\n, filename = 'x.h5', file "
             "descriptor = 4, errno = 28, error message = 'No space left on device', buf = "
             "0x555eb1daa7a8, total write size = 96, bytes this sub-write = 96");
    ml__h5_why(why, sizeof why, 1);
    CHECK_MSG(strcmp(why, "file write failed: No space left on device") == 0, "why = '%s'", why);
    H5Eclear2(H5E_DEFAULT);
    H5Epush2(H5E_DEFAULT, __FILE__, "test", __LINE__, H5E_ERR_CLS, H5E_SYM, H5E_EXISTS,
             "name already exists: 'x'");
    ml__h5_why(why, sizeof why, 1);
    CHECK_MSG(strcmp(why, "name already exists: 'x'") == 0, "why = '%s'", why);
    H5Eclear2(H5E_DEFAULT);
    /* a small buffer is cut, not overrun */
    CHECK(H5Fopen(path_of("missing.h5"), H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
    char small[8] = "1234567";
    ml__h5_why(small, 4, 1);
    CHECK(strlen(small) <= 3 && small[4] == '5');

    ml__h5_close(&p, H5Pclose);
    CHECK(p == H5I_INVALID_HID);
    ml__h5_close(&p, H5Pclose); /* already closed: nothing */
    CHECK(p == H5I_INVALID_HID);

    hid_t fapl = ml__h5_write_fapl();
    CHECK(fapl >= 0);
    H5F_close_degree_t degree = H5F_CLOSE_DEFAULT;
    CHECK(H5Pget_fclose_degree(fapl, &degree) >= 0 && degree == H5F_CLOSE_STRONG);
    ml__h5_close(&fapl, H5Pclose);
}

static void test_bytes(void)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char img[2048];
    memset(img, 0, sizeof img);
    uint64_t off = 99;

    /* none, too short, a signature where no superblock may start */
    ml__h5_source_t src = {img, -1, sizeof img};
    CHECK(!ml__h5_find_superblock(&src, &off) && off == 99);
    ml__h5_source_t tiny = {img, -1, 7};
    CHECK(!ml__h5_find_superblock(&tiny, &off));
    memcpy(img + 300, sig, 8);
    CHECK(!ml__h5_find_superblock(&src, &off));
    /* after user blocks of 512 and 1024 bytes, and the first one wins */
    memcpy(img + 1024, sig, 8);
    CHECK(ml__h5_find_superblock(&src, &off) && off == 1024);
    memcpy(img + 512, sig, 8);
    CHECK(ml__h5_find_superblock(&src, &off) && off == 512);
    memcpy(img, sig, 8);
    CHECK(ml__h5_find_superblock(&src, &off) && off == 0);
    /* a signature that runs past the end does not count */
    ml__h5_source_t cut = {img + 1024, -1, 520};
    memset(img + 1024, 0, 8);
    memcpy(img + 1024 + 512, sig, 8);
    CHECK(ml__h5_find_superblock(&cut, &off) && off == 512);
    cut.size = 519;
    CHECK(!ml__h5_find_superblock(&cut, &off));

    /* the same through a file */
    const char *p = path_of("image.bin");
    write_file(p, img, sizeof img);
    int fd = open(p, O_RDONLY);
    CHECK(fd >= 0);
    ml__h5_source_t file = {NULL, fd, sizeof img};
    unsigned char b[8];
    CHECK(ml__h5_read_at(&file, 512, b, 8) && memcmp(b, sig, 8) == 0);
    CHECK(ml__h5_read_at(&file, sizeof img - 8, b, 8));
    CHECK(!ml__h5_read_at(&file, sizeof img - 7, b, 8));
    CHECK(!ml__h5_read_at(&file, UINT64_MAX, b, 1));
    memset(img, 0, 8);
    write_file(p, img, sizeof img);
    CHECK(ml__h5_find_superblock(&file, &off) && off == 512);
    close(fd);
    CHECK(ml__h5_read_at(&src, sizeof img, b, 0));
    CHECK(!ml__h5_read_at(&src, sizeof img + 1, b, 0));

    unsigned char n[32] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    CHECK(ml__h5_le(n, 2) == 0x0201);
    CHECK(ml__h5_le(n, 4) == 0x04030201);
    CHECK(ml__h5_le(n, 8) == UINT64_C(0x0807060504030201));
    CHECK(ml__h5_le(n, 16) == UINT64_C(0x0807060504030201));
    n[31] = 1;
    CHECK(ml__h5_le(n, 16) == UINT64_C(0x0807060504030201));
    CHECK(ml__h5_le(n, 32) == UINT64_MAX);
    n[8] = 1;
    CHECK(ml__h5_le(n, 16) == UINT64_MAX);
}

static void test_writing(void)
{
    char want[160];
    char *t = ml__tmp_path(path_of("out.h5"));
    snprintf(want, sizeof want, "%s/.out.h5.tmp-%ld", dir, (long)getpid());
    CHECK_MSG(t && strcmp(t, want) == 0, "'%s'", t ? t : "(null)");
    free(t);
    t = ml__tmp_path("out.h5");
    snprintf(want, sizeof want, ".out.h5.tmp-%ld", (long)getpid());
    CHECK(t && strcmp(t, want) == 0);
    free(t);
    t = ml__tmp_path("/out.h5");
    snprintf(want, sizeof want, "/.out.h5.tmp-%ld", (long)getpid());
    CHECK(t && strcmp(t, want) == 0);
    free(t);

    /* in place over an older file */
    const char *tmp = path_of(".new.tmp"), *final = path_of("new.h5");
    write_file(final, "old", 3);
    write_file(tmp, "new", 3);
    const char *step = "none";
    CHECK(ml__move_into_place(tmp, final, &step) == 0 && strcmp(step, "none") == 0);
    CHECK(!exists(tmp) && exists(final));
    char got[4] = "";
    FILE *f = fopen(final, "rb");
    CHECK(f && fread(got, 1, 3, f) == 3 && strcmp(got, "new") == 0);
    if (f)
        fclose(f);
    CHECK(ml__sync_path(dir, 1) == 0);

    /* what failed, with errno */
    errno = 0;
    CHECK(ml__move_into_place(tmp, final, &step) == -1 && strcmp(step, "syncing") == 0 &&
          errno == ENOENT);
    const char *full = path_of("full");
    CHECK(mkdir(full, 0700) == 0);
    write_file(path_of("full/x"), "x", 1);
    write_file(tmp, "new", 3);
    errno = 0;
    CHECK(ml__move_into_place(tmp, full, &step) == -1 && strcmp(step, "renaming") == 0 &&
          errno != 0);
    CHECK(exists(tmp)); /* left for the caller to remove */
    errno = 0;
    CHECK(ml__sync_path(path_of("missing"), 0) == -1 && errno == ENOENT);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/moonlab-h5util.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_errors();
    test_bytes();
    test_writing();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_report("h5util");
}
