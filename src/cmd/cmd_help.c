/* cmd_help.c - see cmd_help.h. */
#include "cmd/cmd_help.h"

#include <curl/curl.h>
#include <jansson.h>
#include <lua.h>
#include <microhttpd.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <protobuf-c/protobuf-c.h>
#include <string.h>
#include <uv.h>

#ifndef ENR_VERSION
#define ENR_VERSION "dev"
#endif
#ifndef ENR_GIT_COMMIT
#define ENR_GIT_COMMIT "unknown"
#endif

static const struct cmd_help_option config_opt[] = {
    {"-c, --config CONFIG", "the config file (Lua declarations; see enroller(1) CONFIGURATION)"},
    {"-h, --help", "this help"},
    {NULL, NULL},
};

static const struct cmd_help_option check_opts[] = {
    {"-c, --config CONFIG", "the config file (Lua declarations; see enroller(1) CONFIGURATION)"},
    {"--connect", "also ping Teleport's Auth Service and list Docker's containers"},
    {"-h, --help", "this help"},
    {NULL, NULL},
};

static const struct cmd_help_option run_opts[] = {
    {"-c, --config CONFIG", "the config file (Lua declarations; see enroller(1) CONFIGURATION)"},
    {"--once", "make one full pass, apply it, and exit"},
    {"-h, --help", "this help"},
    {NULL, NULL},
};

static const struct cmd_help_option test_rules_opts[] = {
    {"--rules DIR", "use the rules in DIR for every case, whatever the case names"},
    {"-h, --help", "this help"},
    {NULL, NULL},
};

const struct cmd_help_command cmd_help_commands[] = {
    {"run", "[run] -c CONFIG [--once]",
     "keep Teleport's apps in step with Docker's containers (the default command)",
     "Lists the containers and Teleport's apps, plans, and writes the difference, then follows "
     "Docker's events and Teleport's watch until SIGTERM or SIGINT. Nothing is deleted on the way "
     "out.\n\n"
     "SIGHUP (or a change in the rules directory) reloads the rules: the new set replaces the "
     "running one only if every file loads. SIGUSR1 approves one pass above the deletion cap.\n\n"
     "With http { listen = \"127.0.0.1:9464\" } it serves /metrics, /healthz, /readyz and a status "
     "page; a bad address or a port in use stops the start with one line naming it.",
     run_opts,
     "0 stopped by a signal; with --once, the pass was complete and every write succeeded\n"
     "1 could not start (Docker, Teleport, the listener); with --once, the pass was incomplete "
     "or a write failed\n"
     "2 bad usage, a config or rules that do not load"},
    {"check", "check -c CONFIG [--connect]",
     "validate the config, the identity and every rule file; with --connect, reach Auth and Docker",
     "Loads the config, the Teleport identity (missing, unreadable, readable by others, expired or "
     "not yet valid: one line naming the file) and every rule. Prints \"config ...: ok\" and one "
     "\"rule ...: ok\" line per rule, or one line per error naming the file and the line. With "
     "--connect it also pings Teleport's Auth Service and lists Docker's containers, one ok or "
     "FAILED line per endpoint; without it nothing is contacted.",
     check_opts,
     "0 the config, the identity and every rule load (and, with --connect, both endpoints answer)\n"
     "1 the config, the identity or a rule does not load, or an endpoint did not answer\n"
     "2 bad usage"},
    {"plan", "plan -c CONFIG",
     "print the creates, updates, deletes and conflicts a pass would make; writes nothing",
     "Reads Docker and Teleport (never writes), plans one full pass and prints one action a line "
     "with its reason, then the counts.",
     config_opt,
     "0 the plan was printed\n"
     "1 Docker or Teleport could not be read\n"
     "2 bad usage, a config or rules that do not load"},
    {"explain", "explain -c CONFIG CONTAINER",
     "for one live container (name or id): which rules match, why, and what they produce",
     "Inspects CONTAINER through Docker (Teleport is not contacted), runs every rule on it and "
     "prints each rule's verdict and the resources it would produce.",
     config_opt,
     "0 explained\n"
     "1 no such container, Docker could not be read, or a rule failed on it\n"
     "2 bad usage, a config or rules that do not load"},
    {"test-rules", "test-rules [--rules DIR] CASES",
     "run rule cases: recorded inspect JSON in, expected resources out",
     "CASES is a directory of *.case.json files or one such file. Each case names its rules "
     "directory, holds a container's inspect JSON and the resources the rules must produce. "
     "Prints PASS or FAIL per case, with a diff. No Docker, no Teleport.",
     test_rules_opts,
     "0 every case passed\n"
     "1 a case failed\n"
     "2 bad usage, or a case file that cannot be read"},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

const struct cmd_help_command *cmd_help_find(const char *name)
{
    for (const struct cmd_help_command *c = cmd_help_commands; c->name != NULL; c++)
        if (name != NULL && strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* text wrapped at width after indent; "\n\n" separates paragraphs. */
static void wrap(FILE *out, const char *text, int indent, int width)
{
    const char *p = text;
    int col = 0;

    while (*p != '\0') {
        size_t n;
        if (p[0] == '\n' && p[1] == '\n') {
            fputs("\n\n", out);
            col = 0;
            p += 2;
            continue;
        }
        if (*p == ' ' || *p == '\n') {
            p++;
            continue;
        }
        n = strcspn(p, " \n");
        if (col > 0 && col + 1 + (int)n > width) {
            fputc('\n', out);
            col = 0;
        }
        if (col == 0)
            col = fprintf(out, "%*s", indent, "");
        else
            col += fprintf(out, " ");
        col += fprintf(out, "%.*s", (int)n, p);
        p += n;
    }
    fputc('\n', out);
}

void cmd_help_usage(FILE *out)
{
    fprintf(out, "usage:\n");
    for (const struct cmd_help_command *c = cmd_help_commands; c->name != NULL; c++)
        fprintf(out, "  enroller %s\n", c->synopsis);
    fprintf(out, "  enroller COMMAND --help\n  enroller --version\n\ncommands:\n");
    for (const struct cmd_help_command *c = cmd_help_commands; c->name != NULL; c++)
        fprintf(out, "  %-11s %s\n", c->name, c->summary);
    fprintf(out, "\nexit codes: 0 success; 1 a failure the command is about; 2 bad usage, or a config\n"
                 "or rules that do not load.  `enroller COMMAND --help` says more.\n");
}

void cmd_help_command(FILE *out, const struct cmd_help_command *c)
{
    fprintf(out, "usage: enroller %s\n\n", c->synopsis);
    wrap(out, c->summary, 0, 78);
    fputc('\n', out);
    wrap(out, c->text, 0, 78);
    fprintf(out, "\noptions:\n");
    for (const struct cmd_help_option *o = c->options; o->flags != NULL; o++)
        fprintf(out, "  %-22s %s\n", o->flags, o->text);
    fprintf(out, "\nexit codes:\n");
    for (const char *p = c->exit; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        fprintf(out, "  %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

void cmd_help_version(FILE *out)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    const nghttp2_info *nv = nghttp2_version(0);

    fprintf(out, "enroller %s\n", ENR_VERSION);
    fprintf(out, "commit:     %s\n", ENR_GIT_COMMIT);
#if defined(__clang__)
    fprintf(out, "compiler:   clang %s\n", __clang_version__);
#elif defined(__GNUC__)
    fprintf(out, "compiler:   gcc %s\n", __VERSION__);
#else
    fprintf(out, "compiler:   unknown\n");
#endif
    fprintf(out, "libcurl:    %s\n", cv->version);
    fprintf(out, "nghttp2:    %s\n", nv->version_str);
    fprintf(out, "openssl:    %s\n", OpenSSL_version(OPENSSL_VERSION));
    fprintf(out, "protobuf-c: %s\n", protobuf_c_version());
    fprintf(out, "lua:        %s\n", LUA_RELEASE);
    fprintf(out, "libuv:      %s\n", uv_version_string());
    fprintf(out, "jansson:    %s\n", jansson_version_str());
    fprintf(out, "libmicrohttpd: %s\n", MHD_get_version());
}

/* text for roff: a leading '.' or '\'' escaped, backslashes doubled. */
static void roff(FILE *out, const char *text)
{
    int bol = 1;
    for (const char *p = text; *p != '\0'; p++) {
        if (bol && (*p == '.' || *p == '\''))
            fputs("\\&", out);
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
        bol = *p == '\n';
    }
}

/* A paragraph text for roff: "\n\n" becomes .PP. */
static void roff_paragraphs(FILE *out, const char *text)
{
    const char *p = text;
    while (*p != '\0') {
        const char *e = strstr(p, "\n\n");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char buf[2048];
        snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
        roff(out, buf);
        fputc('\n', out);
        p += n;
        if (*p != '\0') {
            fputs(".PP\n", out);
            p += 2;
        }
    }
}

void cmd_help_man(FILE *out, const char *date)
{
    fprintf(out, ".TH ENROLLER 1 \"%s\" \"enroller %s\" \"User Commands\"\n", date, ENR_VERSION);
    fputs(".SH NAME\nenroller \\- keep a Teleport cluster in step with the containers on a Docker engine\n"
          ".SH SYNOPSIS\n",
          out);
    for (const struct cmd_help_command *c = cmd_help_commands; c->name != NULL; c++) {
        fputs(".B enroller\n", out);
        roff(out, c->synopsis);
        fputs("\n.br\n", out);
    }
    fputs(".B enroller\n\\-\\-version\n", out);
    fputs(".SH DESCRIPTION\n"
          "enroller registers the containers running on a Docker (or Podman) engine as Teleport "
          "apps, following Lua rule files, and removes an app when its container goes. It only "
          "ever changes apps that carry its owner label, never deletes because Docker, Teleport "
          "or a rule failed, and never logs a key, a certificate or a token.\n"
          ".SH COMMANDS\n",
          out);
    for (const struct cmd_help_command *c = cmd_help_commands; c->name != NULL; c++) {
        fputs(".SS \"enroller ", out);
        roff(out, c->synopsis);
        fputs("\"\n", out);
        roff(out, c->summary);
        fputs(".\n.PP\n", out);
        roff_paragraphs(out, c->text);
        for (const struct cmd_help_option *o = c->options; o->flags != NULL; o++) {
            fputs(".TP\n.B ", out);
            roff(out, o->flags);
            fputc('\n', out);
            roff(out, o->text);
            fputc('\n', out);
        }
        fputs(".PP\nExit codes:\n", out);
        for (const char *p = c->exit; *p != '\0';) {
            size_t n = strcspn(p, "\n");
            char buf[512];
            snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
            fputs(".TP\n.B ", out);
            fprintf(out, "%c\n", buf[0]);
            roff(out, buf + (n > 2 ? 2 : n));
            fputc('\n', out);
            p += n + (p[n] == '\n');
        }
    }
    fputs(".SH CONFIGURATION\n"
          "The config is a Lua file of declarations: owner, docker { host }, teleport { addr, "
          "identity or tbot_dir }, rules { dir }, reconcile { ... }, log { level, format }, "
          "http { listen }, mode. Every error names the file, the line and the field.\n"
          ".SH FILES\n"
          ".TP\n.I /etc/enroller/config.lua\nthe config the systemd unit runs\n"
          ".TP\n.I /usr/share/enroller/lua\nthe rule writers' library (or $ENROLLER_LUA_PATH)\n"
          ".TP\n.I /usr/share/enroller/rules\nthe shipped rules\n"
          ".TP\n.I /usr/share/doc/enroller/examples\nconfigs, least-privilege roles, rule cases, the "
          "systemd unit and the container deployment\n"
          ".SH ENVIRONMENT\n"
          ".TP\n.B ENROLLER_LUA_PATH\nthe rule library's directory, instead of the installed one\n"
          ".TP\n.B DOCKER_HOST, DOCKER_CERT_PATH\nas for the docker CLI, when the config sets no docker.host\n"
          ".SH SIGNALS\n"
          "SIGTERM and SIGINT stop the daemon (nothing is deleted); SIGHUP reloads the rules; "
          "SIGUSR1 approves one pass above the deletion cap.\n",
          out);
}
