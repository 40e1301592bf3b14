/*
 * log.h - leveled, tagged log lines on stderr.
 *
 *     log_info(LOG_DOCKER, "connected to %s (API %s)", host, version);
 *
 * One line per call, as text (the default):
 *     2026-11-24T14:00:00.123Z info  docker: connected ...
 * or as a JSON object (log { format = "json" }), one per line:
 *     {"time":"2026-11-24T14:00:00.123Z","level":"info","subsystem":"docker","msg":"connected ..."}
 * A daemon holds its lines (log_hold) and writes them together, once each
 * time its loop is about to wait (log_flush from a prepare handle): one
 * write for many lines.  An error line is written at once, with the lines
 * held before it.
 * Secrets never reach a log line: callers pass log_redact(token) for join
 * tokens and never log key material at all.
 */
#ifndef ENR_LOG_H
#define ENR_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* Subsystem tags. */
#define LOG_MAIN "main"
#define LOG_DOCKER "docker"
#define LOG_TELEPORT "teleport"
#define LOG_RULES "rules"
#define LOG_CONFIG "config"
#define LOG_RECONCILE "reconcile"

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int log_level_parse(const char *name);
void log_set_format(enum log_format format);
enum log_format log_get_format(void);
/* Parses "text", "json"; returns -1 for anything else. */
int log_format_parse(const char *name);

void log_msg(enum log_level level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* on: lines are kept (up to 16 KiB, then written) until log_flush or an
 * error line; off: every line is written as it comes, the held ones first. */
void log_hold(bool on);
void log_flush(void);

#define log_debug(tag, ...) log_msg(LOG_LEVEL_DEBUG, tag, __VA_ARGS__)
#define log_info(tag, ...) log_msg(LOG_LEVEL_INFO, tag, __VA_ARGS__)
#define log_warn(tag, ...) log_msg(LOG_LEVEL_WARN, tag, __VA_ARGS__)
#define log_error(tag, ...) log_msg(LOG_LEVEL_ERROR, tag, __VA_ARGS__)

/* A printable stand-in for a secret: "<redacted:4 chars ...ab12>" style is
 * avoided on purpose; only the length is shown.  Returns a static buffer. */
const char *log_redact(const char *secret);

#endif
