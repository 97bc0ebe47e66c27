/*
 * Internal interface of the qstack command. The command is built only on
 * <qstack/qstack.h>; nothing here is exported from the library.
 */
#ifndef QSTACK_CLI_H
#define QSTACK_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <qstack/qstack.h>

/* Exit statuses. */
#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

/* Size of the buffer that messages are streamed through. */
#define CLI_BUF_SIZE (64 * 1024)

/* Maximum length of a sender or recipient address, in bytes. */
#define CLI_ADDR_MAX 1024

/* Maximum size of an envelope that the command loads, in bytes. */
#define CLI_ENVELOPE_MAX (64 * 1024)

/* Global state of one run: the configuration and, once opened, the queue. */
struct cli {
	const char *config_path;
	int config_is_default;    /* neither -c nor QSTACK_CONF was given */
	int defaults_if_missing;  /* no default file: use built-in defaults */
	struct qs_config *config;
	struct qs_queue *queue;
};

/* The contents of an envelope, as the command defines them. */
struct cli_envelope {
	char sender[CLI_ADDR_MAX + 1];     /* empty for the null sender */
	char recipient[CLI_ADDR_MAX + 1];
	uint64_t size;            /* bytes of the original message */
	int64_t created;          /* Unix time, 0 when unknown */
};

/* A growable list of ids, used to sort what the queue walks return. */
struct cli_ids {
	char **ids;
	size_t count;
	size_t cap;
};

/* main.c */
void cli_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int cli_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
const char *cli_queue_reason(const struct cli *cli, int status);
void cli_queue_error(const struct cli *cli, int status, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
const char *cli_printable(const char *text, char *buf, size_t cap);
int cli_load_config(struct cli *cli);
int cli_open_queue(struct cli *cli);
int cli_check_id(const char *id, const char *command);
int cli_write_all(int fd, const void *buf, size_t len);
int cli_flush_stdout(void);

/* ls.c: writes text as a JSON string, escaping what JSON requires. */
void cli_json_string(FILE *out, const char *text);

/* ids.c */
int cli_ids_add(struct cli_ids *list, const char *id);
void cli_ids_sort(struct cli_ids *list);
void cli_ids_free(struct cli_ids *list);
int cli_collect_messages(struct cli *cli, struct cli_ids *list);
int cli_collect_envelopes(struct cli *cli, const char *msgid,
    struct cli_ids *list);

/* envelope.c */
int cli_check_address(const char *addr, int may_be_empty, char *err,
    size_t err_cap);
int cli_envelope_format(const struct cli_envelope *env, char *buf,
    size_t cap, size_t *len);
int cli_envelope_parse(const char *buf, size_t len,
    struct cli_envelope *env, char *err, size_t err_cap);
int cli_envelope_load(struct cli *cli, const char *evpid,
    struct cli_envelope *env, char *err, size_t err_cap);

/* headers.c: finds envelope addresses in a message's header section. */
struct cli_header_scan;
struct cli_header_scan *cli_header_scan_new(void);
void cli_header_scan_feed(struct cli_header_scan *scan, const char *buf,
    size_t len);
void cli_header_scan_end(struct cli_header_scan *scan);
const char *cli_header_scan_sender(const struct cli_header_scan *scan);
const char *cli_header_scan_recipient(const struct cli_header_scan *scan);
void cli_header_scan_free(struct cli_header_scan *scan);
int cli_first_address(const char *value, char *addr, size_t cap);

/* put.c */
struct cli_addr_options {
	const char *sender;       /* -f, or NULL */
	const char **rcpts;       /* every -r, in order */
	size_t nrcpts;
};

int cli_parse_addr_options(int argc, char **argv,
    struct cli_addr_options *opts, int *first_operand);
void cli_addr_options_free(struct cli_addr_options *opts);
int cli_store_message(struct cli *cli, int fd, const char *context,
    struct cli_header_scan *scan, char *msgid, uint64_t *size);
int cli_store_envelopes(struct cli *cli, const char *context,
    const char *msgid, const char *sender, const char *const *rcpts,
    size_t nrcpts, uint64_t size);

/* The commands; argv[0] is the command name. */
int cli_cmd_put(struct cli *cli, int argc, char **argv);
int cli_cmd_import(struct cli *cli, int argc, char **argv);
int cli_cmd_get(struct cli *cli, int argc, char **argv);
int cli_cmd_export(struct cli *cli, int argc, char **argv);
int cli_cmd_rm(struct cli *cli, int argc, char **argv);
int cli_cmd_ls(struct cli *cli, int argc, char **argv);
int cli_cmd_plugins(struct cli *cli, int argc, char **argv);
int cli_cmd_check(struct cli *cli, int argc, char **argv);
int cli_cmd_fsck(struct cli *cli, int argc, char **argv);
int cli_cmd_rekey(struct cli *cli, int argc, char **argv);

#endif /* QSTACK_CLI_H */
