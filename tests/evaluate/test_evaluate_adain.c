/*
 * `libstyle evaluate` (style_evaluate) of an arbitrary-style (AdaIN) model: a tiny random
 * AdaIN model on 2 tiny photos x 2 tiny styles. Every (style, photo) pair is a row whose
 * losses equal those computed by hand (the photo resized as the objective resizes it,
 * stylized through the public session API with that style at the style size, rounded to 8
 * bits, scored by style_evaluate_losses with that style), whose colour distance is that of the
 * hand-made output to that style, whose contact sheet holds that output; medians per style and
 * over all pairs; one Gatys curve per style and photo (the second style does not reuse the
 * first's), all reused by a second run; a style folder narrowed by a sha256sum list; and the
 * clear errors (an AdaIN model with no style, a missing style, two styles of one name, a
 * johnson model with several).
 */
#include "arch/adain.h"
#include "core/file_sha256.h"
#include "evaluate/evaluate_metrics.h"
#include "image/resize.h"
#include "model_builder.h"
#include "testutil.h"
#include "train/train_data.h"
#include "train/train_net.h"

#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SIZE 24
#define STYLE_SIZE 16
#define ITERATIONS 4

/* A random AdaIN model (encoder: the net cut at r4) whose libstyle.training names the loss
 * network by name and SHA-256, as style_train_adain records it. */
static void write_adain_model(const char *net_path, const char *out)
{
    char sha[SHA256_HEX_SIZE], training[512];
    feature_net *net = NULL;
    assert_int_equal(feature_net_load(net_path, &net), STYLE_OK);
    assert_int_equal(file_sha256(net_path, sha), STYLE_OK);
    adain_decoder_spec spec;
    assert_int_equal(adain_decoder_mirror(net, 9, &spec), STYLE_OK);
    train_params p;
    assert_int_equal(adain_decoder_params(&spec, &p), STYLE_OK);
    train_params_init(&p, 4);
    st_file file = {0};
    snprintf(training, sizeof training,
             "{\"method\":\"adain\",\"loss_net\":\"net.safetensors\",\"loss_net_sha256\":\"%s\","
             "\"tap\":\"r4\",\"crop_size\":24}",
             sha);
    assert_int_equal(st_file_add_metadata(&file, "libstyle.format_version", "1"), STYLE_OK);
    assert_int_equal(st_file_add_metadata(&file, "libstyle.arch", "adain"), STYLE_OK);
    assert_int_equal(st_file_add_metadata(&file, "libstyle.training", training), STYLE_OK);
    assert_int_equal(adain_model_add_to_file(&file, net, 9, &spec, &p), STYLE_OK);
    void *bytes = NULL;
    size_t size = 0;
    assert_int_equal(st_serialize(&file, &bytes, &size), STYLE_OK);
    assert_int_equal(test_write_file(out, bytes, size), 0);
    style__free(bytes);
    st_file_clear(&file);
    train_params_destroy(&p);
    feature_net_free(net);
}

typedef struct fixture {
    char *dir;
    char model[4096], net[4096], search[2048], photos[2048], styles[2048];
    char photo[2][4096], style[2][4096];
} fixture;

/* DIR/search/net.safetensors, DIR/photos/{a,b}.png, DIR/styles/{s1,s2}.png,
 * DIR/adain.safetensors. */
static void make_fixture(fixture *f)
{
    f->dir = test_make_temp_dir();
    snprintf(f->search, sizeof f->search, "%s/search", f->dir);
    snprintf(f->photos, sizeof f->photos, "%s/photos", f->dir);
    snprintf(f->styles, sizeof f->styles, "%s/styles", f->dir);
    mkdir(f->search, 0777);
    mkdir(f->photos, 0777);
    mkdir(f->styles, 0777);
    snprintf(f->net, sizeof f->net, "%s/net.safetensors", f->search);
    test_write_adain_feature_net(f->net, 3);
    snprintf(f->model, sizeof f->model, "%s/adain.safetensors", f->dir);
    write_adain_model(f->net, f->model);
    const int sizes[2][2] = {{28, 20}, {20, 24}};
    for (int i = 0; i < 2; i++) {
        snprintf(f->photo[i], sizeof f->photo[i], "%s/%c.png", f->photos, 'a' + i);
        test_write_wave_image(f->photo[i], sizes[i][0], sizes[i][1], 1 + i);
        snprintf(f->style[i], sizeof f->style[i], "%s/s%d.png", f->styles, i + 1);
        test_write_wave_image(f->style[i], 22 + 6 * i, 20, 5 + 4 * i);
    }
}

static void free_fixture(fixture *f)
{
    test_remove_tree(f->dir);
    free(f->dir);
}

typedef struct record {
    int cached, gatys_iterations, done, style_done;
    style_evaluate_photo rows[4]; /* in the order measured: style-major */
    char photo[4][64], style[4][64];
    style_evaluate_summary per_style[2];
} record;

static int on_progress(void *user, const style_evaluate_progress *p)
{
    record *r = user;
    assert_true(p->styles == 2 || p->styles == 1);
    assert_true(p->photos == 2);
    if (!strcmp(p->stage, "gatys-cached")) r->cached++;
    if (!strcmp(p->stage, "gatys")) r->gatys_iterations++;
    if (!strcmp(p->stage, "done")) {
        assert_true(r->done < 4);
        assert_int_equal(p->style * p->photos + p->photo, r->done);
        assert_string_equal(p->result->style_image, p->style_image);
        r->rows[r->done] = *p->result;
        snprintf(r->photo[r->done], sizeof r->photo[0], "%s", p->result->name);
        snprintf(r->style[r->done], sizeof r->style[0], "%s", p->result->style_image);
        r->rows[r->done].name = r->rows[r->done].style_image = NULL; /* the callback's only */
        r->done++;
    }
    if (!strcmp(p->stage, "style-done")) {
        assert_non_null(p->style_summary);
        assert_true(p->style < 2);
        r->per_style[p->style] = *p->style_summary;
        r->style_done++;
    }
    return 0;
}

static style_evaluate_options adain_options(const fixture *f, const char *const *styles,
                                            size_t count, const char *cache, const char *out,
                                            record *r)
{
    static const char *dirs[1];
    dirs[0] = f->search;
    style_evaluate_options o = {.struct_size = sizeof o,
                                .model = f->model,
                                .photos_dir = f->photos,
                                .search_dirs = dirs,
                                .search_dir_count = 1,
                                .cache_dir = cache,
                                .out_dir = out,
                                .size = SIZE,
                                .style_size = STYLE_SIZE,
                                .gatys_iterations = ITERATIONS,
                                .threads = 1,
                                .progress = on_progress,
                                .progress_user = r,
                                .style_images = styles,
                                .style_image_count = count};
    return o;
}

/* The pair by hand: the photo resized as the objective resizes it (long side SIZE), stylized
 * through the public API with the style at STYLE_SIZE, rounded to 8 bits (out_png), scored. */
static void hand_made(const fixture *f, int style, int photo, const char *out_png,
                      style_losses *losses, double *color_model)
{
    float *full = NULL, *style_rgb = NULL;
    int32_t fw = 0, fh = 0, sw = 0, sh = 0;
    assert_int_equal(train_load_rgb(f->photo[photo], 0, &full, &fw, &fh), STYLE_OK);
    const bool wide = fw >= fh;
    const double scale = (double)SIZE / (wide ? fw : fh);
    const int32_t w = wide ? SIZE : (int32_t)fmax(1.0, round(fw * scale));
    const int32_t h = wide ? (int32_t)fmax(1.0, round(fh * scale)) : SIZE;
    style_image in;
    assert_int_equal(style_image_alloc(&in, w, h, 3, STYLE_SAMPLE_F32), STYLE_OK);
    assert_int_equal(image_resize_rgb(full, fw, fh, in.data, w, h), STYLE_OK);

    style_model *model = NULL;
    style_session *session = NULL;
    style_adain_style *statistics = NULL;
    style_image style_img = {0}, out = {0};
    assert_int_equal(style_model_load(f->model, NULL, &model), STYLE_OK);
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    assert_int_equal(style_session_set_threads(session, 1), STYLE_OK);
    assert_int_equal(style_image_load(f->style[style], 0, &style_img), STYLE_OK);
    assert_int_equal(style_adain_style_create(session, &style_img, STYLE_SIZE, &statistics),
                     STYLE_OK);
    assert_int_equal(style_session_set_adain_style(session, statistics), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    assert_int_equal(out.width, w);
    assert_int_equal(out.sample_type, STYLE_SAMPLE_F32);
    float *rgb = out.data;
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        rgb[i] = roundf(rgb[i] < 0 ? 0 : rgb[i] > 255 ? 255 : rgb[i]);
    assert_int_equal(style_image_save(out_png, &out, 0), STYLE_OK);

    color_stats model_colors, style_colors;
    assert_int_equal(train_load_rgb(f->style[style], 0, &style_rgb, &sw, &sh), STYLE_OK);
    color_stats_of(style_rgb, (size_t)sw * sh, &style_colors);
    color_stats_of(rgb, (size_t)w * h, &model_colors);
    *color_model = color_distance(&model_colors, &style_colors);

    const char *styles[1] = {f->style[style]};
    style_optimize_options opt = {.struct_size = sizeof opt,
                                  .content_image = f->photo[photo],
                                  .style_images = styles,
                                  .style_count = 1,
                                  .loss_net = f->net,
                                  .size = SIZE,
                                  .style_size = STYLE_SIZE,
                                  .content_weight = 1,
                                  .style_weight = 20,
                                  .tv_weight = 50,
                                  .threads = 1};
    assert_int_equal(style_evaluate_losses(&opt, out_png, losses), STYLE_OK);
    style_image_release(&out);
    style_image_release(&style_img);
    style_image_release(&in);
    style_adain_style_free(statistics);
    style_session_free(session);
    style_model_free(model);
    style__free(full);
    style__free(style_rgb);
}

static bool close_to(double a, double b)
{
    return fabs(a - b) <= 1e-6 * fmax(fabs(a), fabs(b)) + 1e-12;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static double ratio(const style_evaluate_photo *r)
{
    return r->total / r->gatys_total;
}

static double median2(double a, double b)
{
    return (a + b) / 2;
}

static void test_evaluate_pairs(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    char cache[4200], out[4200], path[8400];
    snprintf(cache, sizeof cache, "%s/cache", f.dir);
    snprintf(out, sizeof out, "%s/out", f.dir);
    const char *styles[2] = {f.style[0], f.style[1]};
    record first = {0}, second = {0};
    style_evaluate_options o = adain_options(&f, styles, 2, cache, out, &first);
    style_evaluate_summary s1, s2;
    style_status status = style_evaluate(&o, &s1);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    /* Every pair measured, style-major, with a Gatys curve of its own: none from the cache,
     * though both styles share the photos (the key holds the style). */
    assert_int_equal(s1.photos, 4);
    assert_int_equal(first.done, 4);
    assert_int_equal(first.cached, 0);
    assert_int_equal(first.gatys_iterations, 4 * ITERATIONS);
    assert_int_equal(count_files(cache), 8); /* a curve and a result per pair */
    assert_int_equal(first.style_done, 2);
    for (int k = 0; k < 4; k++) {
        const int style = k / 2, photo = k % 2;
        char name[16];
        snprintf(name, sizeof name, "%c.png", 'a' + photo);
        assert_string_equal(first.photo[k], name);
        snprintf(name, sizeof name, "s%d.png", style + 1);
        assert_string_equal(first.style[k], name);
        /* The pair's numbers are those computed by hand with that style. */
        style_losses hand;
        double color = -1;
        snprintf(path, sizeof path, "%s/hand-%d.png", f.dir, k);
        hand_made(&f, style, photo, path, &hand, &color);
        const style_evaluate_photo *r = &first.rows[k];
        assert_true(close_to(r->total, hand.total));
        assert_true(close_to(r->content, hand.content));
        assert_true(close_to(r->style, hand.style));
        assert_true(close_to(r->tv, hand.tv));
        assert_true(close_to(r->color_model, color));
        assert_true(r->gatys_equivalent >= 0 && r->gatys_equivalent <= ITERATIONS);
        /* Its contact sheet (sheets/STYLE/PHOTO.png) shows that output in the middle. */
        style_image sheet = {0}, mine = {0};
        char sheet_path[8400];
        snprintf(sheet_path, sizeof sheet_path, "%s/sheets/s%d/%c.png", out, style + 1,
                 'a' + photo);
        assert_int_equal(style_image_load(sheet_path, 0, &sheet), STYLE_OK);
        assert_int_equal(style_image_load(path, 0, &mine), STYLE_OK);
        assert_int_equal(sheet.width, 3 * mine.width);
        assert_int_equal(sheet.height, mine.height);
        for (int y = 0; y < mine.height; y++)
            assert_memory_equal((uint8_t *)sheet.data + ((size_t)y * sheet.width + mine.width) * 3,
                                (uint8_t *)mine.data + (size_t)y * mine.width * 3,
                                (size_t)mine.width * 3);
        style_image_release(&sheet);
        style_image_release(&mine);
    }
    /* The two styles' numbers differ (the style is used, not the first one twice). */
    assert_true(first.rows[0].total != first.rows[2].total);
    assert_true(first.rows[0].color_model != first.rows[2].color_model);
    /* Medians per style (of 2: the mean) and over the 4 pairs. */
    for (int s = 0; s < 2; s++) {
        const style_evaluate_photo *a = &first.rows[2 * s], *b = &first.rows[2 * s + 1];
        assert_int_equal(first.per_style[s].photos, 2);
        assert_true(close_to(first.per_style[s].total_ratio, median2(ratio(a), ratio(b))));
        assert_true(
            close_to(first.per_style[s].color_model, median2(a->color_model, b->color_model)));
        assert_true(close_to(first.per_style[s].artifact_score,
                             median2(a->artifact_score, b->artifact_score)));
    }
    double ratios[4], colors[4];
    for (int k = 0; k < 4; k++)
        ratios[k] = ratio(&first.rows[k]), colors[k] = first.rows[k].color_model;
    assert_true(close_to(s1.total_ratio, median_of(ratios, 4)));
    assert_true(close_to(s1.color_model, median_of(colors, 4)));

    /* The reports: a row per pair naming its style; the styles with their medians. */
    size_t size = 0;
    snprintf(path, sizeof path, "%s/report.csv", out);
    char *csv = test_read_file(path, &size);
    assert_non_null(csv);
    assert_true(!strncmp(csv, "photo,style_image,content,", 26));
    assert_non_null(strstr(csv, "\na.png,s1.png,"));
    assert_non_null(strstr(csv, "\nb.png,s2.png,"));
    int lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += csv[i] == '\n';
    assert_int_equal(lines, 5);
    free(csv);
    snprintf(path, sizeof path, "%s/report.json", out);
    char *json = test_read_file(path, &size);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"arch\": \"adain\""));
    assert_non_null(strstr(json, "\"style_image\": \"s2.png\""));
    assert_non_null(strstr(json, "\"name\": \"net.safetensors\""));
    assert_non_null(strstr(json, "\"style_size\": 16"));
    free(json);

    /* Again: every curve from the cache, the same numbers. */
    o.progress_user = &second;
    assert_int_equal(style_evaluate(&o, &s2), STYLE_OK);
    assert_int_equal(second.cached, 4);
    assert_int_equal(second.gatys_iterations, 0);
    for (int k = 0; k < 4; k++)
        assert_true(second.rows[k].total == first.rows[k].total &&
                    second.rows[k].gatys_equivalent == first.rows[k].gatys_equivalent);
    assert_true(s1.total_ratio == s2.total_ratio && s1.color_model == s2.color_model);
    free_fixture(&f);
}

/* --styles DIR --style-list LIST: only the listed style, checked by its hash. */
static void test_style_folder(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    char list[4200], hex[SHA256_HEX_SIZE], text[256];
    assert_int_equal(file_sha256(f.style[1], hex), STYLE_OK);
    int n = snprintf(text, sizeof text, "%s  s2.png\n", hex);
    snprintf(list, sizeof list, "%s/styles.sha256", f.dir);
    assert_int_equal(test_write_file(list, text, (size_t)n), 0);
    record r = {0};
    style_evaluate_options o = adain_options(&f, NULL, 0, NULL, NULL, &r);
    o.gatys_iterations = 1;
    o.styles_dir = f.styles;
    o.style_list = list;
    style_evaluate_summary s;
    style_status status = style_evaluate(&o, &s);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_int_equal(s.photos, 2);
    assert_int_equal(r.done, 2);
    assert_string_equal(r.style[0], "s2.png");
    assert_string_equal(r.style[1], "s2.png");
    /* A style that is not the listed one is refused by name. */
    test_write_wave_image(f.style[1], 22, 20, 77);
    r = (record){0};
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "s2.png"));
    free_fixture(&f);
}

static void test_errors(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    record r = {0};
    style_evaluate_summary s;
    /* An AdaIN model with no style: the error names the model and what to pass. */
    style_evaluate_options o = adain_options(&f, NULL, 0, NULL, NULL, &r);
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), f.model));
    assert_non_null(strstr(style_last_error(), "--style-image"));
    assert_non_null(strstr(style_last_error(), "--styles"));
    /* A caller compiled before the style fields (a smaller struct_size): they are not read. */
    const char *ignored[1] = {f.style[0]};
    o.style_images = ignored;
    o.style_image_count = 1;
    o.struct_size = offsetof(style_evaluate_options, style_images);
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "--style-image"));
    o = adain_options(&f, NULL, 0, NULL, NULL, &r);
    /* A list with no folder. */
    o.style_list = "list.sha256";
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "--styles DIR"));
    /* The loss network the model records, with nowhere to search: named, with the options. */
    const char *one[1] = {f.style[0]};
    o = adain_options(&f, one, 1, NULL, NULL, &r);
    o.search_dir_count = 0;
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "net.safetensors"));
    assert_non_null(strstr(style_last_error(), "--loss-net"));
    /* A missing style image is named. */
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-style.png", f.dir);
    one[0] = missing;
    o = adain_options(&f, one, 1, NULL, NULL, &r);
    assert_int_not_equal(style_evaluate(&o, &s), STYLE_OK);
    assert_non_null(strstr(style_last_error(), "no-such-style.png"));
    /* Two styles of one file name (rows and sheets are named by it). */
    char other[4200];
    snprintf(other, sizeof other, "%s/s1.png", f.photos);
    test_write_wave_image(other, 20, 20, 8);
    const char *same[2] = {f.style[0], other};
    o = adain_options(&f, same, 2, NULL, NULL, &r);
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "two style images named s1.png"));
    remove(other);
    o = adain_options(&f, one, 1, NULL, NULL, &r);
    /* A count with no array. */
    o.style_images = NULL;
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);

    /* A johnson model is measured on its own style only: several are refused. */
    char johnson[4200];
    snprintf(johnson, sizeof johnson, "%s/johnson.safetensors", f.dir);
    test_model_config config = test_default_config();
    config.widths[0] = 4, config.widths[1] = 8, config.widths[2] = 8;
    config.residual_blocks = 1;
    size_t size = 0;
    void *bytes = test_build_model_bytes(&config, 5, &size);
    assert_int_equal(test_write_file(johnson, bytes, size), 0);
    free(bytes);
    const char *two[2] = {f.style[0], f.style[1]};
    o = adain_options(&f, two, 2, NULL, NULL, &r);
    o.model = johnson;
    o.loss_net = f.net;
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "single-style (johnson)"));
    assert_non_null(strstr(style_last_error(), "at most one --style-image"));
    o = adain_options(&f, NULL, 0, NULL, NULL, &r);
    o.model = johnson;
    o.loss_net = f.net;
    o.style_image = f.style[0];
    o.styles_dir = f.styles;
    assert_int_equal(style_evaluate(&o, &s), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "single-style (johnson)"));
    free_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_pairs),
        cmocka_unit_test(test_style_folder),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
