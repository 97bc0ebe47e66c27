/*
 * Lists of message and envelope ids. The queue walks return ids in the
 * backend's order; the commands sort them so that output is stable.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Appends a copy of id. Returns 0, or -1 when out of memory. */
int
cli_ids_add(struct cli_ids *list, const char *id)
{
	char *copy;

	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		char **ids = reallocarray(list->ids, cap, sizeof(*ids));

		if (ids == NULL)
			return -1;
		list->ids = ids;
		list->cap = cap;
	}
	copy = strdup(id);
	if (copy == NULL)
		return -1;
	list->ids[list->count++] = copy;
	return 0;
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
cli_ids_sort(struct cli_ids *list)
{
	if (list->count > 1)
		qsort(list->ids, list->count, sizeof(*list->ids), compare_ids);
}

void
cli_ids_free(struct cli_ids *list)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		free(list->ids[i]);
	free(list->ids);
	memset(list, 0, sizeof(*list));
}

/* Stops a walk when out of memory; the queue's error line is then stale. */
#define WALK_NOMEM (-1000)

static int
add_from_walk(void *arg, const char *id)
{
	return cli_ids_add(arg, id) == 0 ? 0 : WALK_NOMEM;
}

/*
 * Fills list with the ids of every committed message, sorted. Returns 0,
 * or -1 after printing the error.
 */
int
cli_collect_messages(struct cli *cli, struct cli_ids *list)
{
	int rc;

	rc = qs_msg_walk(cli->queue, add_from_walk, list);
	if (rc == WALK_NOMEM) {
		cli_error("listing the messages failed: out of memory");
		return -1;
	}
	if (rc != QS_OK) {
		cli_queue_error(cli, rc, "listing the messages failed");
		return -1;
	}
	cli_ids_sort(list);
	return 0;
}

/*
 * Fills list with the ids of the envelopes of msgid, sorted. Returns 0,
 * or -1 after printing the error.
 */
int
cli_collect_envelopes(struct cli *cli, const char *msgid,
    struct cli_ids *list)
{
	int rc;

	rc = qs_env_walk(cli->queue, msgid, add_from_walk, list);
	if (rc == WALK_NOMEM) {
		cli_error("listing the envelopes of message %s failed: out of "
		    "memory", msgid);
		return -1;
	}
	if (rc != QS_OK) {
		cli_queue_error(cli, rc, "listing the envelopes of message %s "
		    "failed", msgid);
		return -1;
	}
	cli_ids_sort(list);
	return 0;
}
