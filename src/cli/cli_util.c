/* Shared pieces of the libstyle command-line tool (see cli_util.h). */
#define _POSIX_C_SOURCE 200809L

#include "cli_util.h"
#include "cli_interrupt.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs(CLI_PROGRAM_NAME ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_report_status(style_status status, const char *subject)
{
    const char *message = style_last_error();
    if (message == NULL || message[0] == '\0') message = style_status_string(status);

    fputs(CLI_PROGRAM_NAME ": ", stderr);
    if (subject != NULL && subject[0] != '\0' && strstr(message, subject) == NULL) {
        cli_print_escaped(stderr, subject);
        fputs(": ", stderr);
    }
    /* Escaped because the promise is one line per error, whatever the message holds. */
    cli_print_escaped(stderr, message);
    fputc('\n', stderr);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fputs(CLI_PROGRAM_NAME ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (command != NULL)
        fprintf(stderr, " (see '" CLI_PROGRAM_NAME " %s --help')\n", command);
    else
        fputs(" (see '" CLI_PROGRAM_NAME " --help')\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_option_error(const char *command, int result, int argc, char **argv, int optind_before)
{
    /* getopt_long only tells which short option failed (optopt); for a long option the
     * offending word is the one it just stepped over, and it always steps over one. */
    const char *word = (optind >= 1 && optind - 1 < argc) ? argv[optind - 1] : NULL;
    int is_long = optind > optind_before && word != NULL && strncmp(word, "--", 2) == 0;

    if (is_long) {
        size_t name_length = strcspn(word, "=");
        if (result == ':')
            return cli_usage_error(command, "option '%.*s' needs a value", (int)name_length, word);
        if (word[name_length] == '=') return cli_usage_error(command, "invalid option '%s'", word);
        return cli_usage_error(command, "unrecognized option '%s'", word);
    }
    if (result == ':') return cli_usage_error(command, "option '-%c' needs a value", optopt);
    if (isprint((unsigned char)optopt))
        return cli_usage_error(command, "unknown option '-%c'", optopt);
    return cli_usage_error(command, "unknown option");
}

int cli_parse_int(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long value;

    /* strtol would quietly skip leading blanks and accept "" as 0. */
    if (text == NULL || !(isdigit((unsigned char)text[0]) || text[0] == '-' || text[0] == '+'))
        return -1;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) return -1;
    *out = value;
    return 0;
}

int cli_parse_double(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    double value;

    if (text == NULL || text[0] == '\0' || isspace((unsigned char)text[0])) return -1;
    errno = 0;
    value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= min && value <= max)) return -1;
    *out = value;
    return 0;
}

int cli_parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    unsigned long long value;

    /* Digits only: strtoull would turn "-1" into a huge number. */
    if (text == NULL || !isdigit((unsigned char)text[0])) return -1;
    errno = 0;
    value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value > UINT64_MAX) return -1;
    *out = (uint64_t)value;
    return 0;
}

const char *cli_path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

char *cli_path_join(const char *dir, const char *name)
{
    size_t dir_length = strlen(dir);
    size_t name_length = strlen(name);
    int needs_separator = dir_length > 0 && dir[dir_length - 1] != '/';
    char *joined = malloc(dir_length + (size_t)needs_separator + name_length + 1);
    if (joined == NULL) return NULL;
    memcpy(joined, dir, dir_length);
    if (needs_separator) joined[dir_length] = '/';
    memcpy(joined + dir_length + needs_separator, name, name_length + 1);
    return joined;
}

int cli_has_image_extension(const char *path)
{
    const char *dot = strrchr(cli_path_basename(path), '.');
    if (dot == NULL) return 0;
    return strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
           strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".webp") == 0;
}

void cli_print_escaped(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; ++p) {
        if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out); /* bytes >= 0x80 pass: UTF-8 names must stay readable */
    }
}

int cli_finish_stdout(int exit_code)
{
    if (fflush(stdout) != 0) {
        cli_error("cannot write to standard output: %s", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (ferror(stdout)) {
        cli_error("cannot write to standard output");
        return CLI_EXIT_FAILURE;
    }
    return exit_code;
}

struct timespec cli_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now;
}

double cli_elapsed_ms(struct timespec start)
{
    struct timespec now = cli_now();
    return (double)(now.tv_sec - start.tv_sec) * 1e3 + (double)(now.tv_nsec - start.tv_nsec) / 1e6;
}

void cli_format_duration(double seconds, char *out, size_t size)
{
    long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, size, "%ld:%02ld", s / 60, s % 60);
}

int cli_stopped_exit_code(void)
{
    return cli_interrupt_exit_code() ? cli_interrupt_exit_code() : 130;
}

int cli_run_exit_code(style_status status)
{
    if (status == STYLE_ERR_CANCELLED) {
        cli_error("%s", style_last_error());
        return cli_stopped_exit_code();
    }
    if (status != STYLE_OK) {
        cli_report_status(status, NULL);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

void cli_log_message(int quiet, int *bar_open, style_log_level level, const char *message)
{
    if (quiet && level < STYLE_LOG_WARNING) return;
    if (*bar_open) fputc('\n', stderr);
    *bar_open = 0;
    fprintf(stderr, "libstyle: %s%s\n", level == STYLE_LOG_WARNING ? "warning: " : "", message);
}
