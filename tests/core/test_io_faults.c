/*
 * I/O failures: a disk that fills up in the middle of a write (the write hook of
 * src/core/file_io.c), reads that fail (its read hook), and paths that cannot be read as files
 * (directories). Every save must fail
 * with STYLE_ERR_IO and a message naming the file, leave no temporary behind, and leave an
 * earlier file at the destination untouched: nothing is lost, nothing half-written.
 * (chmod 000 proves nothing when the tests run as root, so unreadable inputs are directories.)
 */
#include "core/common.h"
#include "features/feature_net.h"
#include "model_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *g_dir;

static int setup(void **state)
{
    (void)state;
    g_dir = test_make_temp_dir();
    return g_dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    test_remove_tree(g_dir);
    free(g_dir);
    return 0;
}

static style_image test_picture(int w, int h)
{
    style_image image;
    assert_int_equal(style_image_alloc(&image, w, h, 3, STYLE_SAMPLE_U8), STYLE_OK);
    test_rng rng = {(uint64_t)w * 7919 + (uint64_t)h};
    uint8_t *p = image.data; /* noise: the PNG stays several MiB, written in several chunks */
    for (int i = 0; i < w * h * 3; i++)
        p[i] = (uint8_t)test_rng_next(&rng);
    return image;
}

/* `save` fails with a full disk at every write it makes, then succeeds; `path` keeps the
 * bytes of `before` (or stays absent) through every failure. */
typedef style_status (*save_fn)(const char *path, const void *what);

static void expect_atomic_under_full_disk(save_fn save, const void *what, const char *path,
                                          const void *before, size_t before_size)
{
    long n;
    for (n = 1; n < 1000; n++) {
        style__write_fail_after(n);
        style_status status = save(path, what);
        style__write_fail_after(0);
        if (status == STYLE_OK) break;
        assert_int_equal(status, STYLE_ERR_IO);
        assert_non_null(strstr(style_last_error(), style__basename(path)));
        assert_non_null(strstr(style_last_error(), "No space left"));
        assert_int_equal(test_count_temporaries(g_dir), 0);
        if (before) {
            size_t size = 0;
            void *now = test_read_file(path, &size);
            assert_non_null(now);
            assert_int_equal(size, before_size);
            assert_memory_equal(now, before, size);
            free(now);
        } else {
            assert_int_equal(access(path, F_OK), -1);
        }
    }
    print_message("  %s: %ld failing write(s), then saved\n", style__basename(path), n - 1);
    assert_true(n > 1); /* at least one failure was injected */
}

static style_status save_image(const char *path, const void *what)
{
    return style_image_save(path, what, 90);
}

static style_status save_model(const char *path, const void *what)
{
    return style_model_save(what, path);
}

static void test_image_save_full_disk(void **state)
{
    (void)state;
    style_image image = test_picture(1200, 1000);
    const char *names[] = {"full.png", "full.jpg"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", test_path(g_dir, names[i]));
        expect_atomic_under_full_disk(save_image, &image, path, NULL, 0);
        /* Now overwrite the saved file under a full disk: the old one survives. */
        size_t size = 0;
        void *old = test_read_file(path, &size);
        style_image other = test_picture(1200, 1000);
        ((uint8_t *)other.data)[0] ^= 0xff;
        expect_atomic_under_full_disk(save_image, &other, path, old, size);
        style_image_release(&other);
        free(old);
        remove(path);
    }
    style_image_release(&image);
}

static void test_model_save_full_disk(void **state)
{
    (void)state;
    test_model_config c = test_default_config(); /* 1.7 MB: two writes */
    style_model *model = test_build_model(&c, 7);
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path(g_dir, "model.safetensors"));
    expect_atomic_under_full_disk(save_model, model, path, NULL, 0);
    size_t size = 0;
    void *old = test_read_file(path, &size);
    style_model *other = test_build_model(&c, 8);
    expect_atomic_under_full_disk(save_model, other, path, old, size);
    style_model_free(other);
    free(old);
    style_model_free(model);
    remove(path);
}

/* Directories where files are expected: a clean STYLE_ERR_IO naming the path. */
static void test_directories_are_not_files(void **state)
{
    (void)state;
    style_image image;
    assert_int_equal(style_image_load(g_dir, 0, &image), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "directory"));
    assert_null(image.data);
    style_model *model = NULL;
    assert_int_equal(style_model_load(g_dir, NULL, &model), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "directory"));
    assert_null(model);
    /* Saving onto a directory: refused, the directory and its contents are untouched. */
    style_image picture = test_picture(8, 8);
    char sub[4096];
    snprintf(sub, sizeof sub, "%s", test_path(g_dir, "sub.png"));
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(style_image_save(sub, &picture, 0), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "sub.png"));
    assert_int_equal(test_count_temporaries(g_dir), 0);
    assert_int_equal(rmdir(sub), 0);
    /* A missing directory. */
    assert_int_equal(style_image_save(test_path(g_dir, "missing/x.png"), &picture, 0),
                     STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "missing"));
    style_image_release(&picture);
}

/* Every file the library reads fails with EIO on its first read: STYLE_ERR_IO naming the
 * file and the error, nothing returned, nothing leaked (the ASan suite checks leaks). */
static void test_read_errors(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    style_model *model = test_build_model(&c, 9);
    char model_path[4096], image_path[4096], net_path[4096];
    snprintf(model_path, sizeof model_path, "%s", test_path(g_dir, "read.safetensors"));
    snprintf(image_path, sizeof image_path, "%s", test_path(g_dir, "read.png"));
    snprintf(net_path, sizeof net_path, "%s", test_path(g_dir, "net.safetensors"));
    assert_int_equal(style_model_save(model, model_path), STYLE_OK);
    style_model_free(model);
    style_image picture = test_picture(64, 48);
    assert_int_equal(style_image_save(image_path, &picture, 0), STYLE_OK);
    style_image_release(&picture);
    test_write_feature_net(net_path, 3);

    style__read_fail_after(1);
    model = NULL;
    assert_int_equal(style_model_load(model_path, NULL, &model), STYLE_ERR_IO);
    assert_null(model);
    assert_non_null(strstr(style_last_error(), "read.safetensors"));
    assert_non_null(strstr(style_last_error(), "Input/output error"));

    style__read_fail_after(1);
    style_image image;
    assert_int_equal(style_image_load(image_path, 0, &image), STYLE_ERR_IO);
    assert_null(image.data);
    assert_non_null(strstr(style_last_error(), "read.png"));
    assert_non_null(strstr(style_last_error(), "Input/output error"));

    /* The loss network of training (and of Gatys' optimisation). */
    style__read_fail_after(1);
    feature_net *net = NULL;
    assert_int_equal(feature_net_load(net_path, &net), STYLE_ERR_IO);
    assert_null(net);
    assert_non_null(strstr(style_last_error(), "net.safetensors"));
    style__read_fail_after(0);

    /* With the hook spent, the same files load. */
    assert_int_equal(style_model_load(model_path, NULL, &model), STYLE_OK);
    style_model_free(model);
    assert_int_equal(feature_net_load(net_path, &net), STYLE_OK);
    feature_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_save_full_disk),
        cmocka_unit_test(test_model_save_full_disk),
        cmocka_unit_test(test_directories_are_not_files),
        cmocka_unit_test(test_read_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
