/* Choosing the style of a johnson-cin model from the command line (--style, --style-weights). */
#ifndef LIBSTYLE_CLI_STYLES_H
#define LIBSTYLE_CLI_STYLES_H

#include <libstyle.h>

#include <stdio.h>

/**
 * Applies `style` (a style name, or its index) or `weights` ("NAME=W,NAME=W,...": a blend; a
 * style left out weighs 0; an index may stand for a name) to the session; both NULL does
 * nothing. Returns 0, or -1 after printing why (unknown name, bad number, single-style model).
 */
int cli_apply_style(style_session *session, const style_model *model, const char *style,
                    const char *weights);

/** Prints the model's styles (none for a single-style model): their count and parameter cost,
 * then one "  INDEX NAME" line each. */
void cli_print_styles(FILE *out, const style_model *model, const style_model_info *info);

#endif /* LIBSTYLE_CLI_STYLES_H */
