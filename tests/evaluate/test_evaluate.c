/*
 * `libstyle evaluate` (style_evaluate) and its measures, each against values computed by hand
 * on tiny inputs: CIELAB of reference greys, the Gaussian 2-Wasserstein colour distance of
 * flat and two-colour images, Gatys-equivalent iterations on made-up curves, medians, the
 * periodic-peak fraction of a hand-made spectrum and of a pure cosine image, the artifact
 * score's floor, SHA-256 test vectors and sha256sum lists; then the whole evaluation of a tiny
 * random model on two tiny photos (files found by name and SHA-256, reports, contact sheets,
 * the Gatys curves reused from the cache) and its clear errors.
 */
#include "evaluate/evaluate_files.h"
#include "evaluate/evaluate_metrics.h"
#include "core/file_sha256.h"
#include "model_builder.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* L* of sRGB grey 128: 116 * cbrt(((128/255 + 0.055) / 1.055)^2.4) - 16. */
#define L_OF_GREY_128 53.585013452169036

static void fill(float *rgb, size_t pixels, float r, float g, float b)
{
    for (size_t i = 0; i < pixels; i++)
        rgb[3 * i] = r, rgb[3 * i + 1] = g, rgb[3 * i + 2] = b;
}

static void test_lab_references(void **state)
{
    (void)state;
    double lab[3];
    const float white[3] = {255, 255, 255}, black[3] = {0, 0, 0}, grey[3] = {128, 128, 128};
    color_srgb_to_lab(white, lab);
    assert_true(fabs(lab[0] - 100) < 1e-4 && fabs(lab[1]) < 1e-3 && fabs(lab[2]) < 1e-3);
    color_srgb_to_lab(black, lab);
    assert_true(fabs(lab[0]) < 1e-9 && fabs(lab[1]) < 1e-9 && fabs(lab[2]) < 1e-9);
    color_srgb_to_lab(grey, lab);
    assert_true(fabs(lab[0] - L_OF_GREY_128) < 1e-4);
    assert_true(fabs(lab[1]) < 1e-3 && fabs(lab[2]) < 1e-3);
}

static void test_color_distance_flat(void **state)
{
    (void)state;
    float a[4 * 3], b[4 * 3];
    color_stats sa, sb;
    fill(a, 4, 0, 0, 0);
    fill(b, 4, 255, 255, 255);
    color_stats_of(a, 4, &sa);
    color_stats_of(b, 4, &sb);
    /* Flat colours: no covariance, the distance is Delta E 1976 = |L| = 100. */
    assert_true(fabs(color_distance(&sa, &sb) - 100) < 1e-3);
    assert_true(color_distance(&sa, &sa) < 1e-9);
}

static void test_color_distance_covariance(void **state)
{
    (void)state;
    float a[4 * 3], b[4 * 3];
    color_stats sa, sb;
    /* A: half black, half white: L* mean 50, standard deviation 50 (a*, b* 0). */
    fill(a, 2, 0, 0, 0);
    fill(a + 6, 2, 255, 255, 255);
    /* B: half black, half grey 128: L* mean and deviation L128 / 2. */
    fill(b, 2, 0, 0, 0);
    fill(b + 6, 2, 128, 128, 128);
    color_stats_of(a, 4, &sa);
    color_stats_of(b, 4, &sb);
    assert_true(fabs(sa.mean[0] - 50) < 1e-3 && fabs(sa.cov[0][0] - 2500) < 0.1);
    /* One-dimensional Gaussians: W2^2 = (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2. */
    double d = 50 - L_OF_GREY_128 / 2;
    double expected = sqrt(2 * d * d);
    assert_true(fabs(color_distance(&sa, &sb) - expected) < 1e-3);
    assert_true(fabs(color_distance(&sb, &sa) - expected) < 1e-3);
    /* Against a flat grey 128: (50 - L128)^2 + 50^2. */
    float c[4 * 3];
    color_stats sc;
    fill(c, 4, 128, 128, 128);
    color_stats_of(c, 4, &sc);
    double m = 50 - L_OF_GREY_128;
    assert_true(fabs(color_distance(&sa, &sc) - sqrt(m * m + 2500)) < 1e-3);
}

static void test_gatys_equivalent(void **state)
{
    (void)state;
    const double curve[] = {10, 8, 6, 5, 4};
    bool beyond;
    assert_true(fabs(gatys_equivalent_iterations(curve, 5, 7, &beyond) - 1.5) < 1e-12);
    assert_false(beyond);
    assert_true(fabs(gatys_equivalent_iterations(curve, 5, 5, &beyond) - 3) < 1e-12);
    assert_true(gatys_equivalent_iterations(curve, 5, 10, &beyond) == 0 && !beyond);
    assert_true(gatys_equivalent_iterations(curve, 5, 12, &beyond) == 0 && !beyond);
    assert_true(gatys_equivalent_iterations(curve, 5, 3.5, &beyond) == 4 && beyond);
    /* A rise is read as its running minimum: 10 8 8 6, so 7 lies at 2.5. */
    const double bumpy[] = {10, 8, 9, 6};
    assert_true(fabs(gatys_equivalent_iterations(bumpy, 4, 7, &beyond) - 2.5) < 1e-12);
    assert_false(beyond);
}

static void test_median(void **state)
{
    (void)state;
    double odd[] = {3, 1, 2}, even[] = {4, 1, 3, 2}, beyond[] = {1, INFINITY};
    assert_true(median_of(odd, 3) == 2);
    assert_true(median_of(even, 4) == 2.5);
    assert_true(isinf(median_of(beyond, 2)));
    assert_true(median_of(NULL, 0) == 0);
}

static void test_peak_fraction_of_spectrum(void **state)
{
    (void)state;
    enum { N = 32 };
    double power[N * N], scratch[81];
    for (int i = 0; i < N * N; i++)
        power[i] = 1;
    /* One peak at (v, u) = (0, 8): 0.25 cycles per pixel, in the band; 100 above its
     * neighbourhood's median (1). The band leaves out the 9 bins within 2 bins of DC (radius
     * < 1/16 cycles per pixel = 2 bins): 1015 bins of power 1, plus the peak's 100. */
    power[8] = 101;
    double f = artifact_peak_fraction_of_spectrum(power, N, N, scratch);
    assert_true(fabs(f - 100.0 / 1115.0) < 1e-12);
    /* Below the factor (10 x the median): no peak. */
    power[8] = 9;
    assert_true(artifact_peak_fraction_of_spectrum(power, N, N, scratch) == 0);
    /* A peak at low frequency (1 bin from DC) is outside the band. */
    power[8] = 1;
    power[1] = 1000;
    assert_true(artifact_peak_fraction_of_spectrum(power, N, N, scratch) == 0);
}

static void test_peak_fraction_of_images(void **state)
{
    (void)state;
    enum { W = 32, H = 24 };
    float rgb[W * H * 3];
    double f = -1;
    /* Flat: no high-frequency power at all. */
    fill(rgb, W * H, 128, 128, 128);
    assert_int_equal(artifact_peak_fraction(rgb, W, H, &f), STYLE_OK);
    assert_true(f == 0);
    /* A pure grey cosine of 8 cycles across: all of the band's power is in its peaks (the
     * Hann window spreads each into 3 x 3 bins, around zeros). */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float v = (float)(128 + 60 * cos(2 * M_PI * 8 * x / W));
            fill(rgb + 3 * (y * W + x), 1, v, v, v);
        }
    assert_int_equal(artifact_peak_fraction(rgb, W, H, &f), STYLE_OK);
    assert_true(fabs(f - 1) < 1e-9);
    assert_int_equal(artifact_peak_fraction(rgb, 0, H, &f), STYLE_ERR_INVALID_ARGUMENT);
}

static void test_artifact_score(void **state)
{
    (void)state;
    assert_true(fabs(artifact_score(0.2, 0.1) - 2) < 1e-12);
    assert_true(fabs(artifact_score(0.05, 0.001) - 5) < 1e-12); /* floored at 0.01 */
    assert_true(artifact_score(0, 0) == 0);
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[SHA256_HEX_SIZE];
    const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_int_equal(bytes_sha256("abc", 3, hex), STYLE_OK);
    assert_string_equal(hex, abc);
    assert_int_equal(bytes_sha256("", 0, hex), STYLE_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char *dir = test_make_temp_dir();
    assert_int_equal(test_write_file(test_path(dir, "abc.txt"), "abc", 3), 0);
    assert_int_equal(file_sha256(test_path(dir, "abc.txt"), hex), STYLE_OK);
    assert_string_equal(hex, abc);
    assert_int_equal(file_sha256(test_path(dir, "missing"), hex), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "missing"));

    char list_text[512];
    snprintf(list_text, sizeof list_text, "# held out\n%s  abc.txt\n\n%s *other name.jpg\n", abc,
             "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
    assert_int_equal(test_write_file(test_path(dir, "list"), list_text, strlen(list_text)), 0);
    sha256_list list;
    assert_int_equal(sha256_list_read(test_path(dir, "list"), &list), STYLE_OK);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.names[1], "other name.jpg");
    assert_int_equal(sha256_list_find(&list, abc), 0);
    assert_int_equal(
        sha256_list_find(&list, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        1);
    assert_int_equal(sha256_list_find(&list, hex + 1), -1);
    sha256_list_free(&list);
    const char *bad = "abc.txt 1234\n";
    assert_int_equal(test_write_file(test_path(dir, "bad"), bad, strlen(bad)), 0);
    assert_int_equal(sha256_list_read(test_path(dir, "bad"), &list), STYLE_ERR_FORMAT);
    assert_non_null(strstr(style_last_error(), "line 1"));
    test_remove_tree(dir);
    free(dir);
}

/* ---- The whole evaluation on a tiny model ------------------------------------------------- */

/* DIR/search/{style.png, net.safetensors}, DIR/photos/{a,b}.png, DIR/model.safetensors whose
 * libstyle.training names the style and net by name and SHA-256 (style_hash NULL: the real
 * one), DIR/list.sha256 naming both photos. */
static void make_evaluation_fixtures(const char *dir, const char *style_hash)
{
    char path[4096], style_sha[SHA256_HEX_SIZE], net_sha[SHA256_HEX_SIZE];
    snprintf(path, sizeof path, "%s/search", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/photos", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/search/style.png", dir);
    test_write_wave_image(path, 20, 20, 3);
    assert_int_equal(file_sha256(path, style_sha), STYLE_OK);
    snprintf(path, sizeof path, "%s/search/net.safetensors", dir);
    test_write_feature_net(path, 7);
    assert_int_equal(file_sha256(path, net_sha), STYLE_OK);
    snprintf(path, sizeof path, "%s/photos/a.png", dir);
    test_write_wave_image(path, 28, 20, 1);
    snprintf(path, sizeof path, "%s/photos/b.png", dir);
    test_write_wave_image(path, 20, 24, 2);

    char training[1024];
    snprintf(training, sizeof training,
             "{\"style_image\":\"style.png\",\"style_image_sha256\":\"%s\",\"loss_net\":"
             "\"net.safetensors\",\"loss_net_sha256\":\"%s\",\"style_size\":16}",
             style_hash ? style_hash : style_sha, net_sha);
    test_model_config config = test_default_config();
    config.widths[0] = 4, config.widths[1] = 8, config.widths[2] = 8;
    config.residual_blocks = 1;
    st_file file;
    test_build_model_file(&config, 5, &file);
    assert_int_equal(st_file_add_metadata(&file, "libstyle.training", training), STYLE_OK);
    void *bytes = NULL;
    size_t size = 0;
    assert_int_equal(st_serialize(&file, &bytes, &size), STYLE_OK);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(test_write_file(path, bytes, size), 0);
    style__free(bytes);
    st_file_clear(&file);

    char list[512], hex[SHA256_HEX_SIZE];
    snprintf(path, sizeof path, "%s/photos/b.png", dir);
    assert_int_equal(file_sha256(path, hex), STYLE_OK);
    int n = snprintf(list, sizeof list, "%s  b.png\n", hex);
    snprintf(path, sizeof path, "%s/photos/a.png", dir);
    assert_int_equal(file_sha256(path, hex), STYLE_OK);
    n += snprintf(list + n, sizeof list - (size_t)n, "%s  a.png\n", hex);
    snprintf(path, sizeof path, "%s/list.sha256", dir);
    assert_int_equal(test_write_file(path, list, (size_t)n), 0);
}

typedef struct stages {
    int cached, gatys_iterations, done;
    style_evaluate_photo last;
    char last_name[64]; /* last.name points into the evaluation: valid only in the callback */
    double totals[2], photo_totals[2];
} stages;

static int count_stages(void *user, const style_evaluate_progress *p)
{
    stages *s = user;
    if (!strcmp(p->stage, "gatys-cached")) s->cached++;
    if (!strcmp(p->stage, "gatys")) s->gatys_iterations++;
    if (!strcmp(p->stage, "done")) {
        assert_true(p->photo < 2);
        s->totals[p->photo] = p->result->total;
        s->photo_totals[p->photo] = p->result->photo_total;
        s->last = *p->result;
        snprintf(s->last_name, sizeof s->last_name, "%s", p->result->name);
        s->last.name = NULL;
        s->done++;
    }
    return 0;
}

static void test_evaluate_tiny_model(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_evaluation_fixtures(dir, NULL);
    char model[4096], photos[2048], search[2048], cache[4096], out[4096], list[4096];
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(photos, sizeof photos, "%s/photos", dir);
    snprintf(search, sizeof search, "%s/search", dir);
    snprintf(cache, sizeof cache, "%s/cache/curves", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(list, sizeof list, "%s/list.sha256", dir);
    const char *dirs[1] = {search};
    stages first = {0}, second = {0};
    style_evaluate_options o = {.struct_size = sizeof o,
                                .model = model,
                                .photos_dir = photos,
                                .photo_list = list,
                                .search_dirs = dirs,
                                .search_dir_count = 1,
                                .cache_dir = cache,
                                .out_dir = out,
                                .size = 24,
                                .gatys_iterations = 6,
                                .threads = 1,
                                .progress = count_stages,
                                .progress_user = &first};
    style_evaluate_summary s1, s2;
    style_status status = style_evaluate(&o, &s1);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_int_equal(s1.photos, 2);
    assert_int_equal(first.done, 2);
    assert_int_equal(first.cached, 0);
    assert_int_equal(first.gatys_iterations, 12);
    assert_int_equal(s1.gatys_iterations, 6);
    assert_true(s1.color_model >= 0 && s1.color_photo > 0 && s1.total_ratio > 0);
    /* The list's order: b first. The photo's own total is the loss style_evaluate_losses
     * gives it under the same objective. */
    assert_string_equal(first.last_name, "a.png");
    const char *styles[1] = {NULL};
    char style_path[4096], net_path[4096], photo_b[4096];
    snprintf(style_path, sizeof style_path, "%s/style.png", search);
    snprintf(net_path, sizeof net_path, "%s/net.safetensors", search);
    snprintf(photo_b, sizeof photo_b, "%s/b.png", photos);
    styles[0] = style_path;
    style_optimize_options opt = {.struct_size = sizeof opt,
                                  .content_image = photo_b,
                                  .style_images = styles,
                                  .style_count = 1,
                                  .loss_net = net_path,
                                  .size = 24,
                                  .style_size = 16,
                                  .content_weight = 1,
                                  .style_weight = 20,
                                  .tv_weight = 50,
                                  .threads = 1};
    style_losses losses;
    assert_int_equal(style_evaluate_losses(&opt, photo_b, &losses), STYLE_OK);
    assert_true(fabs(losses.total - first.photo_totals[0]) <= 1e-6 * losses.total);
    /* The Gatys-equivalent iterations are within the curve. */
    assert_true(first.last.gatys_equivalent >= 0 && first.last.gatys_equivalent <= 6);

    char path[8192];
    const char *written[] = {"report.csv", "report.json", "sheets/a.png", "sheets/b.png"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", out, written[i]);
        size_t size = 0;
        void *data = test_read_file(path, &size);
        assert_non_null(data);
        assert_true(size > 0);
        if (i == 1) assert_non_null(strstr(data, "\"definition\": \"johnson-gatys-v1\""));
        free(data);
    }
    style_image sheet;
    snprintf(path, sizeof path, "%s/sheets/a.png", out);
    assert_int_equal(style_image_load(path, 0, &sheet), STYLE_OK);
    assert_int_equal(sheet.width, 3 * 24); /* photo | model | Gatys, a.png is 28x20 -> 24x17 */
    assert_int_equal(sheet.height, 17);
    style_image_release(&sheet);

    /* Again: both curves come from the cache, and every number is the same. */
    o.progress_user = &second;
    assert_int_equal(style_evaluate(&o, &s2), STYLE_OK);
    assert_int_equal(second.cached, 2);
    assert_int_equal(second.gatys_iterations, 0);
    assert_true(s1.total_ratio == s2.total_ratio && s1.gatys_equivalent == s2.gatys_equivalent &&
                s1.color_model == s2.color_model && s1.artifact_score == s2.artifact_score);
    test_remove_tree(dir);
    free(dir);
}

static void test_evaluate_errors(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_evaluation_fixtures(dir,
                             "0000000000000000000000000000000000000000000000000000000000000000");
    char model[4096], photos[4096], search[4096], list[4096];
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(photos, sizeof photos, "%s/photos", dir);
    snprintf(search, sizeof search, "%s/search", dir);
    snprintf(list, sizeof list, "%s/list.sha256", dir);
    const char *dirs[1] = {search};
    style_evaluate_summary s;
    style_evaluate_options o = {.struct_size = sizeof o,
                                .model = model,
                                .photos_dir = photos,
                                .size = 24,
                                .gatys_iterations = 2,
                                .threads = 1};
    /* No folder to search: the error names the file and the options. */
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "style.png"));
    assert_non_null(strstr(style_last_error(), "--search"));
    /* The recorded hash matches no file of that name. */
    o.search_dirs = dirs;
    o.search_dir_count = 1;
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "SHA-256 differs"));
    /* A photo that is not the listed one. */
    char path[4096];
    snprintf(path, sizeof path, "%s/search/style.png", dir);
    o.style_image = path;
    snprintf(path, sizeof path, "%s/photos/a.png", dir);
    test_write_wave_image(path, 28, 20, 9);
    o.photo_list = list;
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "a.png"));
    assert_non_null(strstr(style_last_error(), "not the held-out photo"));
    o.photo_list = NULL;
    o.model = NULL;
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_evaluate(NULL, &s), STYLE_ERR_INVALID_ARGUMENT);
    test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lab_references),
        cmocka_unit_test(test_color_distance_flat),
        cmocka_unit_test(test_color_distance_covariance),
        cmocka_unit_test(test_gatys_equivalent),
        cmocka_unit_test(test_median),
        cmocka_unit_test(test_peak_fraction_of_spectrum),
        cmocka_unit_test(test_peak_fraction_of_images),
        cmocka_unit_test(test_artifact_score),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_evaluate_tiny_model),
        cmocka_unit_test(test_evaluate_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
