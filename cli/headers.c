/*
 * Finds the envelope sender and recipient of an imported message in its
 * header section (RFC 5322), while the message streams into the queue.
 *
 * The sender comes from Return-Path, else from the first From address.
 * The recipient comes from Delivered-To, else from the first To address.
 * The first valid occurrence of each field counts; delivery agents add
 * Return-Path and Delivered-To at the top. Addresses that do not fit an
 * envelope (see cli_check_address) are ignored.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* Maximum length of an unfolded header line; longer lines are cut. */
#define HEADER_LINE_MAX 8192

enum header_field {
	FIELD_RETURN_PATH,
	FIELD_FROM,
	FIELD_DELIVERED_TO,
	FIELD_TO,
	FIELD_COUNT
};

static const char *const field_names[FIELD_COUNT] = {
	"Return-Path", "From", "Delivered-To", "To",
};

struct cli_header_scan {
	int done;                 /* the header section has ended */
	int at_line_start;
	int lines;                /* header lines completed so far */
	size_t len;
	char line[HEADER_LINE_MAX + 1];
	int found[FIELD_COUNT];
	char addr[FIELD_COUNT][CLI_ADDR_MAX + 1];
};

struct cli_header_scan *
cli_header_scan_new(void)
{
	struct cli_header_scan *scan = calloc(1, sizeof(*scan));

	if (scan != NULL)
		scan->at_line_start = 1;
	return scan;
}

void
cli_header_scan_free(struct cli_header_scan *scan)
{
	free(scan);
}

/* Appends c to the address being built; fails when it does not fit. */
static int
append(char *addr, size_t cap, size_t *len, char c)
{
	if (*len + 1 >= cap)
		return -1;
	addr[(*len)++] = c;
	addr[*len] = '\0';
	return 0;
}

/* State of the address parser in cli_first_address. */
struct addr_parse {
	int in_quote;
	int comment_depth;
	int in_angle;
	int escaped;
	size_t len;
};

/*
 * Handles one character outside quotes and comments. Returns 1 when an
 * address is complete, 0 to go on, -1 on failure.
 */
static int
addr_parse_plain(struct addr_parse *p, char c, char *addr, size_t cap)
{
	switch (c) {
	case '"':
		p->in_quote = 1;
		return append(addr, cap, &p->len, c);
	case '(':
		p->comment_depth = 1;
		return 0;
	case '<':
		p->in_angle = 1;
		p->len = 0;
		addr[0] = '\0';
		return 0;
	case '>':
		return p->in_angle ? 1 : -1;
	case ':':
		/* A group's display name ends here: "team: a@b, c@d;". */
		if (!p->in_angle) {
			p->len = 0;
			addr[0] = '\0';
		}
		return p->in_angle ? append(addr, cap, &p->len, c) : 0;
	case ',':
	case ';':
		if (p->in_angle)
			return -1;
		/* An empty list element, as in "undisclosed:;", goes on. */
		return p->len > 0 && strchr(addr, '@') != NULL ? 1 : 0;
	case ' ':
	case '\t':
		return 0;
	default:
		return append(addr, cap, &p->len, c);
	}
}

/* Handles one character inside a quoted string or a comment. */
static int
addr_parse_nested(struct addr_parse *p, char c, char *addr, size_t cap)
{
	if (p->escaped) {
		p->escaped = 0;
		return p->in_quote ? append(addr, cap, &p->len, c) : 0;
	}
	if (c == '\\') {
		p->escaped = 1;
		return p->in_quote ? append(addr, cap, &p->len, c) : 0;
	}
	if (p->in_quote) {
		if (c == '"')
			p->in_quote = 0;
		return append(addr, cap, &p->len, c);
	}
	if (c == '(')
		p->comment_depth++;
	else if (c == ')')
		p->comment_depth--;
	return 0;
}

/*
 * Copies the first address of a header value (an address list, mailbox
 * list or path) into addr: the part in angle brackets, else the addr-spec
 * with comments and unquoted blanks removed. "<>" gives the empty
 * address. Returns 0, or -1 when no address is found or it does not fit.
 */
int
cli_first_address(const char *value, char *addr, size_t cap)
{
	struct addr_parse p;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	if (cap == 0)
		return -1;
	addr[0] = '\0';
	for (; *value != '\0' && rc == 0; value++) {
		if (p.in_quote || p.comment_depth > 0)
			rc = addr_parse_nested(&p, *value, addr, cap);
		else
			rc = addr_parse_plain(&p, *value, addr, cap);
	}
	if (rc == 1)
		return 0;
	if (rc < 0 || p.in_quote || p.in_angle)
		return -1;
	return p.len > 0 && strchr(addr, '@') != NULL ? 0 : -1;
}

/* Length of the field name at the start of line, or 0 if there is none. */
static size_t
field_name_length(const char *line)
{
	size_t i;

	for (i = 0; line[i] != '\0' && line[i] != ':'; i++) {
		if (line[i] <= ' ' || line[i] > '~')
			return 0;
	}
	return line[i] == ':' ? i : 0;
}

static void
take_field(struct cli_header_scan *scan, enum header_field field,
    const char *value)
{
	char addr[CLI_ADDR_MAX + 1], reason[128];
	int may_be_empty = field == FIELD_RETURN_PATH;

	if (scan->found[field])
		return;
	if (cli_first_address(value, addr, sizeof(addr)) != 0)
		return;
	if (cli_check_address(addr, may_be_empty, reason,
	    sizeof(reason)) != 0)
		return;
	memcpy(scan->addr[field], addr, strlen(addr) + 1);
	scan->found[field] = 1;
}

/* Handles one complete, unfolded header line. */
static void
end_line(struct cli_header_scan *scan)
{
	size_t name_len;
	int i;

	if (scan->len == 0)
		return;
	scan->line[scan->len] = '\0';
	scan->len = 0;
	name_len = field_name_length(scan->line);

	/* An mbox "From " line may come first; other non-fields end it. */
	if (name_len == 0) {
		if (scan->lines > 0 || strncmp(scan->line, "From ", 5) != 0)
			scan->done = 1;
		scan->lines++;
		return;
	}
	scan->lines++;
	for (i = 0; i < FIELD_COUNT; i++) {
		if (strlen(field_names[i]) == name_len &&
		    strncasecmp(scan->line, field_names[i], name_len) == 0)
			take_field(scan, (enum header_field)i,
			    scan->line + name_len + 1);
	}
}

static void
keep_char(struct cli_header_scan *scan, char c)
{
	if (scan->len < HEADER_LINE_MAX)
		scan->line[scan->len++] = c;
}

/*
 * Feeds the next bytes of the message. Folded lines are joined; CR bytes
 * are dropped. Scanning stops at the empty line that ends the header
 * section.
 */
void
cli_header_scan_feed(struct cli_header_scan *scan, const char *buf,
    size_t len)
{
	size_t i;

	for (i = 0; i < len && !scan->done; i++) {
		char c = buf[i];

		if (c == '\r')
			continue;
		if (!scan->at_line_start) {
			if (c == '\n')
				scan->at_line_start = 1;
			else
				keep_char(scan, c);
			continue;
		}
		scan->at_line_start = c == '\n';
		if (c == '\n') {
			end_line(scan);
			scan->done = 1;
		} else if (c == ' ' || c == '\t') {
			keep_char(scan, ' ');
		} else {
			end_line(scan);
			keep_char(scan, c);
		}
	}
}

/* Ends the scan of a message whose header section ran to its end. */
void
cli_header_scan_end(struct cli_header_scan *scan)
{
	if (!scan->done)
		end_line(scan);
	scan->done = 1;
}

/* Returns the sender found, "" for Return-Path: <>, or NULL. */
const char *
cli_header_scan_sender(const struct cli_header_scan *scan)
{
	if (scan->found[FIELD_RETURN_PATH])
		return scan->addr[FIELD_RETURN_PATH];
	if (scan->found[FIELD_FROM])
		return scan->addr[FIELD_FROM];
	return NULL;
}

/* Returns the recipient found, or NULL. */
const char *
cli_header_scan_recipient(const struct cli_header_scan *scan)
{
	if (scan->found[FIELD_DELIVERED_TO])
		return scan->addr[FIELD_DELIVERED_TO];
	if (scan->found[FIELD_TO])
		return scan->addr[FIELD_TO];
	return NULL;
}
