/*
 * cmd_help.h - the command line's documentation, written once: `enroller
 * --help`, `enroller COMMAND --help`, `enroller --version` and the manual
 * page enroller.1 (printed at build time by src/cmd/man_page.c from the
 * same table).
 */
#ifndef ENR_CMD_HELP_H
#define ENR_CMD_HELP_H

#include <stdio.h>

struct cmd_help_option {
    const char *flags;   /* "-c, --config CONFIG" */
    const char *text;
};

struct cmd_help_command {
    const char *name;      /* "run" */
    const char *synopsis;  /* after "enroller ": "run -c CONFIG [--once]" */
    const char *summary;   /* one line */
    const char *text;      /* paragraphs, separated by "\n\n"; lines wrapped at 78 */
    const struct cmd_help_option *options; /* ends with {NULL, NULL} */
    const char *exit;      /* exit codes: "0 ...\n1 ...\n2 ..." one code a line */
};

/* The commands in the order --help lists them; ends with name NULL. */
extern const struct cmd_help_command cmd_help_commands[];

/* The command named name, NULL if none. */
const struct cmd_help_command *cmd_help_find(const char *name);
/* `enroller --help`: every command's synopsis and summary, the exit codes. */
void cmd_help_usage(FILE *out);
/* `enroller COMMAND --help`. */
void cmd_help_command(FILE *out, const struct cmd_help_command *c);
/* `enroller --version`: version, git commit, compiler, library versions. */
void cmd_help_version(FILE *out);
/* enroller.1 in roff (man(7)); date: "2026-12-01" (the build's). */
void cmd_help_man(FILE *out, const char *date);

#endif
