/*
 * man_page.c - the program `enroller-man DATE` that prints enroller.1 from
 * the help table (cmd/cmd_help.c), so --help and the manual page are one
 * text.  Run at build time (CMakeLists.txt); not installed.
 */
#include <stdio.h>

#include "cmd/cmd_help.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: enroller-man DATE > enroller.1\n");
        return 2;
    }
    cmd_help_man(stdout, argv[1]);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
