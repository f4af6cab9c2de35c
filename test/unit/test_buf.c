/* Tests of the growing buffer and the arena: contents, growth, ownership, alignment. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sequin/buf.h"

static void test_buf_append(void **state)
{
    (void)state;
    sq_buf b = {0};
    assert_int_equal(sq_buf_puts(&b, "hello"), SQ_OK);
    assert_int_equal(sq_buf_putc(&b, ' '), SQ_OK);
    assert_int_equal(sq_buf_printf(&b, "%s %d", "world", 42), SQ_OK);
    assert_int_equal(b.len, 14);
    assert_string_equal(b.data, "hello world 42");
    assert_int_equal(sq_buf_append(&b, "\0x", 2), SQ_OK);
    assert_int_equal(b.len, 16);
    assert_memory_equal(b.data + 14, "\0x", 3); /* and the terminator */

    sq_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    sq_buf_free(&b);
    assert_null(b.data);
}

static void test_buf_growth(void **state)
{
    (void)state;
    sq_buf b = {0};
    /* Many appends across many reallocations keep every byte. */
    for (int i = 0; i < 100000; i++)
        assert_int_equal(sq_buf_putc(&b, (char)('a' + i % 26)), SQ_OK);
    assert_int_equal(b.len, 100000);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    /* A formatted piece larger than the spare room. */
    sq_buf_reset(&b);
    char big[5000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(sq_buf_printf(&b, "<%s>", big), SQ_OK);
    assert_int_equal(b.len, 5000 + 1);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[5000], '>');
    /* An impossible reservation fails and leaves the buffer intact. */
    assert_int_equal(sq_buf_reserve(&b, SIZE_MAX), SQ_ERR);
    assert_int_equal(b.len, 5001);
    sq_buf_free(&b);
}

static void test_buf_steal(void **state)
{
    (void)state;
    sq_buf b = {0};
    size_t len = 99;
    char *empty = sq_buf_steal(&b, &len);
    assert_non_null(empty);
    assert_int_equal(len, 0);
    assert_string_equal(empty, "");
    free(empty);

    assert_int_equal(sq_buf_puts(&b, "kept"), SQ_OK);
    char *s = sq_buf_steal(&b, &len);
    assert_string_equal(s, "kept");
    assert_int_equal(len, 4);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
}

static void test_arena(void **state)
{
    (void)state;
    sq_arena a = {0};
    /* Alignment and independence of many small allocations: each is filled with its own
     * byte, and all are read back after the others were written. */
    static char *ptrs[1000];
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i % 37);
        ptrs[i] = sq_arena_alloc(&a, n);
        assert_non_null(ptrs[i]);
        assert_int_equal((uintptr_t)ptrs[i] % alignof(max_align_t), 0);
        if (i > 0)
            assert_ptr_not_equal(ptrs[i], ptrs[i - 1]);
        memset(ptrs[i], i & 0xff, n);
    }
    for (int i = 0; i < 1000; i++)
        for (size_t k = 0; k < (size_t)(i % 37); k++)
            assert_int_equal((unsigned char)ptrs[i][k], i & 0xff);
    /* Aligned sizes waste nothing: two 16-byte allocations in a fresh block are adjacent. */
    sq_arena fresh = {0};
    char *x = sq_arena_alloc(&fresh, 16), *y = sq_arena_alloc(&fresh, 16);
    assert_int_equal(y - x, 16);
    sq_arena_free(&fresh);
    /* A large allocation next to a partly used block. */
    char *big = sq_arena_alloc(&a, 100000);
    assert_non_null(big);
    memset(big, 1, 100000);
    char *small = sq_arena_strdup(&a, "still here");
    assert_string_equal(small, "still here");
    assert_string_equal(sq_arena_strndup(&a, "abcdef", 3), "abc");
    assert_string_equal(sq_arena_printf(&a, "%d-%s", 7, "x"), "7-x");
    int *zeros = sq_arena_calloc(&a, 100, sizeof(int));
    for (int i = 0; i < 100; i++)
        assert_int_equal(zeros[i], 0);
    assert_null(sq_arena_calloc(&a, SIZE_MAX / 2, 4));
    assert_null(sq_arena_alloc(&a, SIZE_MAX));
    assert_true(a.allocated >= 100000);

    sq_arena_reset(&a);
    assert_int_equal(a.allocated, 0);
    /* Only the base-size block survives a reset, whatever large requests came before. */
    assert_non_null(a.head);
    for (int round = 0; round < 3; round++) {
        assert_non_null(sq_arena_alloc(&a, 10));
        assert_non_null(sq_arena_alloc(&a, 8u << 20));
        sq_arena_reset(&a);
        assert_non_null(a.head);
    }
    sq_arena probe = {0};
    assert_non_null(sq_arena_alloc(&probe, 10));
    assert_non_null(sq_arena_alloc(&probe, 8u << 20));
    sq_arena_reset(&probe);
    assert_non_null(probe.head);
    /* The kept block is the 4 KiB one: two 3000-byte pieces cannot both fit in it, whereas
     * in a kept 8 MiB block the second would follow the first directly. */
    char *p1 = sq_arena_alloc(&probe, 3000);
    char *p2 = sq_arena_alloc(&probe, 3000);
    assert_ptr_not_equal(p2, p1 + 3008);
    sq_arena_free(&probe);
    char *again = sq_arena_strdup(&a, "after reset");
    assert_string_equal(again, "after reset");
    sq_arena_free(&a);
    assert_null(a.head);
    /* A freed arena is reusable. */
    assert_string_equal(sq_arena_strdup(&a, "reused"), "reused");
    sq_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append),
        cmocka_unit_test(test_buf_growth),
        cmocka_unit_test(test_buf_steal),
        cmocka_unit_test(test_arena),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
