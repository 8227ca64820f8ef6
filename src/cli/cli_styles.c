/* --style NAME|INDEX and --style-weights NAME=W,... for johnson-cin models. */
#include "cli_styles.h"

#include "cli_util.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A style given by name, else by index; -1 after reporting an unknown one. */
static int64_t find_style(const style_model *model, const char *text)
{
    int64_t index = style_model_find_style(model, text);
    long number;
    if (index >= 0) return index;
    if (cli_parse_int(text, 0, (long)style_model_style_count(model) - 1, &number) == 0)
        return number;
    cli_error("the model has no style '%s' (see 'libstyle info MODEL')", text);
    return -1;
}

/* Parses "NAME=W,..." into weights[style_count] (zero for those not named). */
static int parse_weights(const style_model *model, const char *text, float *weights)
{
    char *copy = strdup(text);
    int result = 0;
    if (!copy) {
        cli_error("out of memory");
        return -1;
    }
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item && result == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *equals = strrchr(item, '=');
        char *end = NULL;
        if (!equals) {
            cli_error("--style-weights: '%s' is not NAME=WEIGHT", item);
            result = -1;
            break;
        }
        *equals = '\0';
        double weight = strtod(equals + 1, &end);
        if (end == equals + 1 || *end != '\0' || !isfinite(weight) || weight < 0) {
            cli_error("--style-weights: the weight of '%s' must be a number >= 0, not '%s'", item,
                      equals + 1);
            result = -1;
            break;
        }
        int64_t index = find_style(model, item);
        if (index < 0)
            result = -1;
        else
            weights[index] += (float)weight;
    }
    free(copy);
    return result;
}

int cli_apply_style(style_session *session, const style_model *model, const char *style,
                    const char *weights)
{
    if (!style && !weights) return 0;
    size_t count = style_model_style_count(model);
    if (count == 0) {
        cli_error("%s needs a model with several styles (arch johnson-cin); this one has one",
                  style ? "--style" : "--style-weights");
        return -1;
    }
    if (style) {
        int64_t index = find_style(model, style);
        if (index < 0) return -1;
        style_status status = style_session_set_style(session, (size_t)index);
        if (status != STYLE_OK) {
            cli_report_status(status, NULL);
            return -1;
        }
        return 0;
    }
    float *w = calloc(count, sizeof *w);
    if (!w) {
        cli_error("out of memory");
        return -1;
    }
    int result = parse_weights(model, weights, w);
    if (result == 0) {
        style_status status = style_session_set_style_weights(session, w, count);
        if (status != STYLE_OK) {
            cli_report_status(status, NULL);
            result = -1;
        }
    }
    free(w);
    return result;
}

void cli_print_styles(FILE *out, const style_model *model, const style_model_info *info)
{
    size_t count = style_model_style_count(model);
    if (count == 0) return;
    /* A style is a scale and a shift for every instance norm: in1..in5, two per residual
     * block, in6 with a final norm. */
    uint64_t channels = 2 * ((uint64_t)info->widths[0] + info->widths[1]) + info->widths[2] +
                        2 * (uint64_t)info->residual_blocks * info->widths[2] +
                        (strcmp(info->final_norm, "instance") == 0 ? 3 : 0);
    fprintf(out, "%-16s %zu (%" PRIu64 " parameters each, %.2f %% of the model)\n",
            "styles:", count, 2 * channels,
            100.0 * (double)(2 * channels) / (double)info->parameter_count);
    for (size_t i = 0; i < count; i++) {
        fprintf(out, "  %-14zu ", i);
        cli_print_escaped(out, style_model_style_name(model, i));
        fputc('\n', out);
    }
}
