/* Tensors: ownership and capacity reuse, views (slice, transpose, reshape, rows) sharing
 * memory with the right strides, strided copy/fill/sum/all_finite, argmax, shape formatting, and the
 * error codes and messages of every failure. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/tensor.h"

static float at2(const ml_tensor_t *t, int64_t i, int64_t j)
{
    int64_t idx[2] = {i, j};
    return *ml_tensor_at(t, idx);
}

/* (R,C) tensor with element (i,j) = 10*i + j, so every value names its position. */
static void make_grid(ml_tensor_t *t, int64_t r, int64_t c)
{
    int64_t shape[2] = {r, c};
    CHECK(ml_tensor_new(t, 2, shape) == ML_OK);
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            t->data[i * c + j] = (float)(10 * i + j);
}

static void test_new_free(void)
{
    ml_tensor_t t;
    int64_t shape[3] = {2, 3, 4};
    CHECK(ml_tensor_new(&t, 3, shape) == ML_OK);
    CHECK(t.owns == 1 && t.ndim == 3 && t.data != NULL);
    CHECK(t.shape[0] == 2 && t.shape[1] == 3 && t.shape[2] == 4);
    CHECK(t.stride[0] == 12 && t.stride[1] == 4 && t.stride[2] == 1);
    CHECK(ml_tensor_numel(&t) == 24);
    CHECK(ml_tensor_is_contiguous(&t));
    int zero = 1;
    for (int i = 0; i < 24; i++)
        zero &= t.data[i] == 0.0f;
    CHECK_MSG(zero, "ml_tensor_new must zero-fill");
    ml_tensor_free(&t);
    CHECK(t.data == NULL && t.owns == 0 && t.ndim == 0);
    ml_tensor_free(&t); /* idempotent */
    CHECK(t.data == NULL);

    ml_tensor_t z;
    memset(&z, 0, sizeof z);
    ml_tensor_free(&z); /* zeroed struct: no-op */
    ml_tensor_free(NULL);

    /* A scalar has one element; a zero-size dimension is allowed. */
    CHECK(ml_tensor_new(&t, 0, NULL) == ML_OK);
    CHECK(t.ndim == 0 && ml_tensor_numel(&t) == 1);
    ml_tensor_free(&t);
    int64_t empty[2] = {0, 5};
    CHECK(ml_tensor_new(&t, 2, empty) == ML_OK);
    CHECK(ml_tensor_numel(&t) == 0);
    ml_tensor_free(&t);

    /* Freeing a view leaves the base intact. */
    ml_tensor_t g, v;
    make_grid(&g, 3, 4);
    CHECK(ml_tensor_rows(&v, &g, 1, 2) == ML_OK);
    CHECK(v.owns == 0);
    ml_tensor_free(&v);
    CHECK(v.data == NULL);
    CHECK(g.data != NULL && at2(&g, 2, 3) == 23.0f);
    ml_tensor_free(&g);
}

static void test_new_errors(void)
{
    ml_tensor_t t;
    int64_t neg[2] = {3, -1};
    CHECK_ERR(ml_tensor_new(&t, 2, neg), ML_EARG, "-1");
    int64_t five[5] = {1, 1, 1, 1, 1};
    CHECK_ERR(ml_tensor_new(&t, 5, five), ML_EARG, "5");
    CHECK_ERR(ml_tensor_new(&t, -1, five), ML_EARG, "-1");
    ml_tensor_t e;
    memset(&e, 0, sizeof e);
    CHECK_ERR(ml_tensor_ensure(&e, 2, neg), ML_EARG, "-1");
    CHECK_ERR(ml_tensor_ensure(&e, 5, five), ML_EARG, "5");
    ml_tensor_free(&e);
}

static void test_ensure(void)
{
    ml_tensor_t t;
    memset(&t, 0, sizeof t);
    int64_t big[2] = {8, 16};
    CHECK(ml_tensor_ensure(&t, 2, big) == ML_OK); /* from a zeroed struct: allocates */
    CHECK(t.owns == 1 && t.data != NULL && ml_tensor_numel(&t) == 128);
    float *p = t.data;

    int64_t small[3] = {2, 3, 5};
    CHECK(ml_tensor_ensure(&t, 3, small) == ML_OK);
    CHECK_MSG(t.data == p, "shrinking must reuse the buffer");
    CHECK(t.ndim == 3 && t.shape[0] == 2 && t.shape[1] == 3 && t.shape[2] == 5);
    CHECK(t.stride[0] == 15 && t.stride[1] == 5 && t.stride[2] == 1);
    CHECK(ml_tensor_is_contiguous(&t));

    /* Back up to the original size: still within capacity, so still the same buffer. */
    CHECK(ml_tensor_ensure(&t, 2, big) == ML_OK);
    CHECK_MSG(t.data == p, "growing within capacity must reuse the buffer");
    CHECK(t.shape[0] == 8 && t.shape[1] == 16 && t.stride[0] == 16);

    int64_t huge[2] = {64, 64};
    CHECK(ml_tensor_ensure(&t, 2, huge) == ML_OK);
    CHECK(t.owns == 1 && ml_tensor_numel(&t) == 4096);
    t.data[4095] = 1.0f; /* the new buffer really has the new size (ASan would catch this) */
    ml_tensor_free(&t);

    /* Ensure on a view never writes into the viewed buffer: it gets its own. */
    ml_tensor_t g, v;
    make_grid(&g, 4, 4);
    CHECK(ml_tensor_rows(&v, &g, 0, 2) == ML_OK);
    int64_t s2[2] = {2, 2};
    CHECK(ml_tensor_ensure(&v, 2, s2) == ML_OK);
    CHECK(v.owns == 1 && v.data != g.data);
    ml_tensor_free(&v);
    ml_tensor_free(&g);
}

static void test_slice_transpose_rows(void)
{
    ml_tensor_t g, s, tr, r;
    make_grid(&g, 4, 6);

    /* Columns 1, 3, 5 of every row. */
    CHECK(ml_tensor_slice(&s, &g, 1, 1, 6, 2) == ML_OK);
    CHECK(s.owns == 0 && s.data == g.data + 1);
    CHECK(s.ndim == 2 && s.shape[0] == 4 && s.shape[1] == 3);
    CHECK(s.stride[0] == 6 && s.stride[1] == 2);
    CHECK(!ml_tensor_is_contiguous(&s));
    int ok = 1;
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 3; j++)
            ok &= at2(&s, i, j) == (float)(10 * i + 1 + 2 * j);
    CHECK_MSG(ok, "slice values");
    /* Same memory: a write through the view is seen in the base. */
    *ml_tensor_at(&s, (int64_t[]){2, 1}) = -5.0f;
    CHECK(at2(&g, 2, 3) == -5.0f);
    g.data[2 * 6 + 3] = 23.0f;

    /* Step that does not divide the range: rows 0 and 3 of [0, 4) step 3. */
    CHECK(ml_tensor_slice(&s, &g, 0, 0, 4, 3) == ML_OK);
    CHECK(s.shape[0] == 2 && s.stride[0] == 18 && at2(&s, 1, 2) == 32.0f);
    /* Empty slice. */
    CHECK(ml_tensor_slice(&s, &g, 1, 2, 2, 1) == ML_OK);
    CHECK(s.shape[1] == 0 && ml_tensor_numel(&s) == 0);

    CHECK(ml_tensor_transpose(&tr, &g, 0, 1) == ML_OK);
    CHECK(tr.owns == 0 && tr.data == g.data);
    CHECK(tr.shape[0] == 6 && tr.shape[1] == 4 && tr.stride[0] == 1 && tr.stride[1] == 6);
    CHECK(!ml_tensor_is_contiguous(&tr));
    ok = 1;
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 6; j++)
            ok &= at2(&tr, j, i) == at2(&g, i, j);
    CHECK_MSG(ok, "transpose values");

    CHECK(ml_tensor_rows(&r, &g, 1, 2) == ML_OK);
    CHECK(r.owns == 0 && r.data == g.data + 6 && r.shape[0] == 2 && r.shape[1] == 6);
    CHECK(ml_tensor_is_contiguous(&r));
    CHECK(at2(&r, 1, 4) == 24.0f);

    /* Errors name the offending values. */
    CHECK_ERR(ml_tensor_slice(&s, &g, 2, 0, 1, 1), ML_EARG, "dimension");
    CHECK_ERR(ml_tensor_slice(&s, &g, 1, 0, 7, 1), ML_EARG, "7", "6");
    CHECK_ERR(ml_tensor_slice(&s, &g, 1, 3, 2, 1), ML_EARG, "3", "2");
    CHECK_ERR(ml_tensor_slice(&s, &g, 1, 0, 6, 0), ML_EARG, "step");
    CHECK_ERR(ml_tensor_rows(&r, &g, 3, 2), ML_EARG, "5", "4");
    CHECK_ERR(ml_tensor_transpose(&tr, &g, 0, 2), ML_EARG, "3");
    ml_tensor_free(&g);
}

static void test_reshape(void)
{
    ml_tensor_t g, v, tr, s;
    make_grid(&g, 4, 6);

    CHECK(ml_tensor_reshape(&v, &g, 3, (int64_t[]){2, -1, 3}) == ML_OK);
    CHECK(v.owns == 0 && v.data == g.data);
    CHECK(v.ndim == 3 && v.shape[0] == 2 && v.shape[1] == 4 && v.shape[2] == 3);
    CHECK(v.stride[0] == 12 && v.stride[1] == 3 && v.stride[2] == 1);
    /* Element (a,b,c) is linear index 12a+3b+c, i.e. grid row (12a+3b+c)/6. */
    int ok = 1;
    for (int64_t a = 0; a < 2; a++)
        for (int64_t b = 0; b < 4; b++)
            for (int64_t c = 0; c < 3; c++) {
                int64_t lin = 12 * a + 3 * b + c;
                ok &= *ml_tensor_at(&v, (int64_t[]){a, b, c}) == (float)(10 * (lin / 6) + lin % 6);
            }
    CHECK_MSG(ok, "reshape values follow row-major order");

    CHECK(ml_tensor_reshape(&v, &g, 1, (int64_t[]){-1}) == ML_OK);
    CHECK(v.ndim == 1 && v.shape[0] == 24 && v.stride[0] == 1);

    /* A row range is contiguous and reshapes fine. */
    CHECK(ml_tensor_rows(&s, &g, 1, 2) == ML_OK);
    CHECK(ml_tensor_reshape(&v, &s, 2, (int64_t[]){3, 4}) == ML_OK);
    CHECK(v.data == g.data + 6 && at2(&v, 0, 0) == 10.0f && at2(&v, 2, 3) == 25.0f);

    /* Non-contiguous views cannot be reshaped without a copy. */
    CHECK(ml_tensor_transpose(&tr, &g, 0, 1) == ML_OK);
    CHECK_ERR(ml_tensor_reshape(&v, &tr, 1, (int64_t[]){24}), ML_ESTATE, "(6,4)");
    CHECK(ml_tensor_slice(&s, &g, 1, 0, 6, 2) == ML_OK);
    CHECK_ERR(ml_tensor_reshape(&v, &s, 1, (int64_t[]){-1}), ML_ESTATE, "(4,3)");

    CHECK_ERR(ml_tensor_reshape(&v, &g, 2, (int64_t[]){5, 5}), ML_ESHAPE, "(4,6)", "25");
    CHECK_ERR(ml_tensor_reshape(&v, &g, 2, (int64_t[]){5, -1}), ML_ESHAPE, "(4,6)");
    CHECK_ERR(ml_tensor_reshape(&v, &g, 2, (int64_t[]){-1, -1}), ML_EARG, "-1");
    CHECK_ERR(ml_tensor_reshape(&v, &g, 2, (int64_t[]){-2, -12}), ML_EARG, "-2");
    CHECK_ERR(ml_tensor_reshape(&v, &g, 5, (int64_t[]){1, 1, 1, 4, 6}), ML_EARG, "5");
    ml_tensor_free(&g);
}

static void test_copy_fill_sum_finite(void)
{
    ml_tensor_t a, b, src, dst;
    make_grid(&a, 4, 6);
    int64_t bshape[2] = {3, 4};
    CHECK(ml_tensor_new(&b, 2, bshape) == ML_OK);
    ml_tensor_fill(&b, -1.0f);

    /* Strided to strided: every other column of A (4,3) into the transpose view of B (4,3). */
    CHECK(ml_tensor_slice(&src, &a, 1, 0, 6, 2) == ML_OK);
    CHECK(ml_tensor_transpose(&dst, &b, 0, 1) == ML_OK);
    CHECK(ml_tensor_copy(&dst, &src) == ML_OK);
    int ok = 1;
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 3; j++)
            ok &= at2(&b, j, i) == (float)(10 * i + 2 * j);
    CHECK_MSG(ok, "strided copy");

    /* Contiguous to contiguous (the memmove path). */
    ml_tensor_t c, d;
    make_grid(&c, 3, 4);
    CHECK(ml_tensor_new(&d, 2, bshape) == ML_OK);
    CHECK(ml_tensor_copy(&d, &c) == ML_OK);
    CHECK(memcmp(d.data, c.data, 12 * sizeof(float)) == 0);

    CHECK_ERR(ml_tensor_copy(&b, &a), ML_ESHAPE, "(3,4)", "(4,6)");
    CHECK_ERR(ml_tensor_copy(&dst, &c), ML_ESHAPE, "(4,3)", "(3,4)");

    /* Fill through a strided view touches exactly the viewed elements. */
    ml_tensor_t g, s;
    make_grid(&g, 4, 6);
    CHECK(ml_tensor_slice(&s, &g, 1, 1, 6, 2) == ML_OK);
    CHECK(ml_tensor_fill(&s, 7.0f) == ML_OK);
    ok = 1;
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 6; j++)
            ok &= at2(&g, i, j) == (j % 2 ? 7.0f : (float)(10 * i + j));
    CHECK_MSG(ok, "fill through a view");

    /* Sum over a view = sum of the viewed elements only. */
    ml_tensor_t h, hs;
    make_grid(&h, 4, 6);
    double want_all = 0, want_view = 0;
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 6; j++) {
            want_all += 10 * i + j;
            if (j >= 2 && j < 5)
                want_view += 10 * i + j;
        }
    CHECK_CLOSE(ml_tensor_sum(&h), want_all, 0, 0);
    CHECK(ml_tensor_slice(&hs, &h, 1, 2, 5, 1) == ML_OK);
    CHECK_CLOSE(ml_tensor_sum(&hs), want_view, 0, 0);
    ml_tensor_t ht;
    CHECK(ml_tensor_transpose(&ht, &hs, 0, 1) == ML_OK);
    CHECK_CLOSE(ml_tensor_sum(&ht), want_view, 0, 0);

    /* all_finite sees NaN and both infinities, but only inside the tensor it is given. */
    CHECK(ml_tensor_all_finite(&h) == 1);
    float specials[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        h.data[3 * 6 + 5] = specials[k];
        CHECK_MSG(ml_tensor_all_finite(&h) == 0, "special value %d not seen", k);
        CHECK_MSG(ml_tensor_all_finite(&hs) == 1, "element outside the view was seen");
        ml_tensor_t last;
        CHECK(ml_tensor_rows(&last, &h, 3, 1) == ML_OK);
        CHECK(ml_tensor_all_finite(&last) == 0);
    }
    h.data[3 * 6 + 5] = 0.0f;
    h.data[0] = FLT_MAX;
    CHECK(ml_tensor_all_finite(&h) == 1);

    ml_tensor_free(&a);
    ml_tensor_free(&b);
    ml_tensor_free(&c);
    ml_tensor_free(&d);
    ml_tensor_free(&g);
    ml_tensor_free(&h);
}

/* argmax along the last dimension: through strided views, first of ties, NaN passed over, three
 * dimensions, and the shapes it refuses. */
static void test_argmax(void)
{
    ml_tensor_t g, out, tv;
    make_grid(&g, 3, 4); /* rows increase along j: the last column wins */
    int64_t three = 3, four = 4;
    CHECK(ml_tensor_new(&out, 1, &three) == ML_OK);
    CHECK(ml_tensor_argmax(&out, &g) == ML_OK);
    CHECK(out.data[0] == 3.0f && out.data[1] == 3.0f && out.data[2] == 3.0f);
    /* the transpose (4,3): along i the last row (i = 2) wins */
    ml_tensor_t out4;
    CHECK(ml_tensor_new(&out4, 1, &four) == ML_OK);
    CHECK(ml_tensor_transpose(&tv, &g, 0, 1) == ML_OK);
    CHECK(ml_tensor_argmax(&out4, &tv) == ML_OK);
    int ok = 1;
    for (int k = 0; k < 4; k++)
        ok &= out4.data[k] == 2.0f;
    CHECK_MSG(ok, "argmax of a transposed view");
    /* ties: the first; NaN: passed over, even in first place; all NaN: 0 */
    float rows[3][4] = {{1, 5, 5, 0}, {NAN, -1, NAN, 2}, {NAN, NAN, NAN, NAN}};
    for (int i = 0; i < 3; i++)
        memcpy(g.data + 4 * i, rows[i], sizeof rows[i]);
    CHECK(ml_tensor_argmax(&out, &g) == ML_OK);
    CHECK(out.data[0] == 1.0f);
    CHECK(out.data[1] == 3.0f);
    CHECK(out.data[2] == 0.0f);
    /* (2,3,2): the position within each innermost pair */
    int64_t s3[3] = {2, 3, 2}, s2[2] = {2, 3};
    ml_tensor_t c3, o2;
    CHECK(ml_tensor_new(&c3, 3, s3) == ML_OK);
    CHECK(ml_tensor_new(&o2, 2, s2) == ML_OK);
    for (int k = 0; k < 12; k++)
        c3.data[k] = (float)((k / 2) % 2 ? k % 2 : 1 - k % 2); /* pairs alternate (1,0), (0,1) */
    CHECK(ml_tensor_argmax(&o2, &c3) == ML_OK);
    ok = 1;
    for (int k = 0; k < 6; k++)
        ok &= o2.data[k] == (float)(k % 2);
    CHECK_MSG(ok, "argmax over the last of three dimensions");
    /* refused: a vector, a result of the wrong shape, an empty last dimension */
    ml_tensor_t v, e;
    CHECK(ml_tensor_new(&v, 1, &four) == ML_OK);
    CHECK_ERR(ml_tensor_argmax(&out, &v), ML_ESHAPE, "(4,)");
    CHECK_ERR(ml_tensor_argmax(&out4, &g), ML_ESHAPE, "(3,4)", "(4,)");
    int64_t empty[2] = {3, 0};
    CHECK(ml_tensor_new(&e, 2, empty) == ML_OK);
    CHECK_ERR(ml_tensor_argmax(&out, &e), ML_ESHAPE, "(3,0)");
    ml_tensor_free(&g);
    ml_tensor_free(&out);
    ml_tensor_free(&out4);
    ml_tensor_free(&c3);
    ml_tensor_free(&o2);
    ml_tensor_free(&v);
    ml_tensor_free(&e);
}

static void test_shape_str(void)
{
    char buf[64];
    ml_tensor_t t;
    CHECK(ml_tensor_new(&t, 2, (int64_t[]){2, 3}) == ML_OK);
    CHECK(strcmp(ml_shape_str(buf, sizeof buf, &t), "(2,3)") == 0);
    ml_tensor_free(&t);
    CHECK(ml_tensor_new(&t, 1, (int64_t[]){5}) == ML_OK);
    CHECK(ml_shape_str(buf, sizeof buf, &t) == buf);
    CHECK_MSG(strcmp(buf, "(5,)") == 0, "got %s", buf);
    ml_tensor_free(&t);
    CHECK(ml_tensor_new(&t, 4, (int64_t[]){2, 10, 300, 4}) == ML_OK);
    CHECK(strcmp(ml_shape_str(buf, sizeof buf, &t), "(2,10,300,4)") == 0);

    /* A short buffer is truncated, terminated, and never overrun. */
    char small[8];
    memset(small, 'x', sizeof small);
    ml_shape_str(small, 6, &t);
    CHECK(memchr(small, '\0', 6) != NULL);
    CHECK(small[6] == 'x' && small[7] == 'x');
    CHECK(strncmp(small, "(2,10", 5) == 0);
    ml_tensor_free(&t);
}

static void test_matmul(void)
{
    ml_tensor_t a, b, c, at, bt_store, bt;
    make_grid(&a, 2, 3); /* [[0,1,2],[10,11,12]] */
    make_grid(&b, 3, 4); /* b[i][j] = 10i+j */
    CHECK(ml_tensor_new(&c, 2, (int64_t[]){2, 4}) == ML_OK);
    CHECK(ml_tensor_matmul(&c, &a, &b, 1.0f, 0.0f) == ML_OK);
    int ok = 1;
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 4; j++) {
            double s = 0;
            for (int64_t p = 0; p < 3; p++)
                s += (10.0 * i + p) * (10.0 * p + j);
            ok &= at2(&c, i, j) == (float)s;
        }
    CHECK_MSG(ok, "matmul values");

    /* Transposed operands are views: (A^T)^T @ (B^T)^T with alpha, and beta accumulation. */
    make_grid(&at, 3, 2);
    for (int64_t i = 0; i < 2; i++)
        for (int64_t p = 0; p < 3; p++)
            at.data[p * 2 + i] = a.data[i * 3 + p];
    ml_tensor_t atv;
    CHECK(ml_tensor_transpose(&atv, &at, 0, 1) == ML_OK);
    make_grid(&bt_store, 4, 3);
    for (int64_t p = 0; p < 3; p++)
        for (int64_t j = 0; j < 4; j++)
            bt_store.data[j * 3 + p] = b.data[p * 4 + j];
    CHECK(ml_tensor_transpose(&bt, &bt_store, 0, 1) == ML_OK);
    ml_tensor_t c2;
    CHECK(ml_tensor_new(&c2, 2, (int64_t[]){2, 4}) == ML_OK);
    ml_tensor_fill(&c2, 1.0f);
    CHECK(ml_tensor_matmul(&c2, &atv, &bt, 2.0f, 3.0f) == ML_OK);
    ok = 1;
    for (int64_t k = 0; k < 8; k++)
        ok &= c2.data[k] == 2.0f * c.data[k] + 3.0f;
    CHECK_MSG(ok, "matmul of transpose views with alpha=2, beta=3");

    CHECK_ERR(ml_tensor_matmul(&c, &a, &a, 1.0f, 0.0f), ML_ESHAPE, "(2,3)", "(2,3)");
    ml_tensor_t b45;
    CHECK(ml_tensor_new(&b45, 2, (int64_t[]){4, 5}) == ML_OK);
    CHECK_ERR(ml_tensor_matmul(&c, &a, &b45, 1.0f, 0.0f), ML_ESHAPE, "(2,3)", "(4,5)");
    /* Right inner sizes, wrong output. */
    CHECK_ERR(ml_tensor_matmul(&c2, &b, &b45, 1.0f, 0.0f), ML_ESHAPE, "(3,4)", "(4,5)", "(2,4)");
    ml_tensor_t v1;
    CHECK(ml_tensor_new(&v1, 1, (int64_t[]){3}) == ML_OK);
    CHECK_ERR(ml_tensor_matmul(&c, &a, &v1, 1.0f, 0.0f), ML_ESHAPE, "(3,)");

    ml_tensor_free(&a);
    ml_tensor_free(&b);
    ml_tensor_free(&c);
    ml_tensor_free(&c2);
    ml_tensor_free(&at);
    ml_tensor_free(&bt_store);
    ml_tensor_free(&b45);
    ml_tensor_free(&v1);
}

int main(void)
{
    {
        /* a zero size must not hide an overflow of the other sizes' product (the strides) */
        ml_tensor_t t;
        int64_t huge[3] = {0, (int64_t)1 << 40, (int64_t)1 << 40};
        CHECK(ml_tensor_new(&t, 3, huge) == ML_EARG);
        int64_t fine[3] = {0, 1 << 20, 1 << 20};
        CHECK(ml_tensor_new(&t, 3, fine) == ML_OK && ml_tensor_numel(&t) == 0);
        ml_tensor_free(&t);
    }
    test_new_free();
    test_new_errors();
    test_ensure();
    test_slice_transpose_rows();
    test_reshape();
    test_copy_fill_sum_finite();
    test_argmax();
    test_shape_str();
    test_matmul();
    return check_report("test_tensor");
}
