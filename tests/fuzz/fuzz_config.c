/*
 * Fuzzes the configuration parser, qs_config_parse, on the input bytes.
 * A rejected text must come with a one-line message; an accepted one
 * must give a configuration whose fields are consistent.
 */
#include <string.h>

#include "fuzz_common.h"
#include "internal.h"

static void
check_module(const struct qs_cfg_module *m, const char *what)
{
	size_t i;

	if (m->name == NULL && m->nparams > 0)
		fuzz_fail("%s has %zu options but no module", what,
		    m->nparams);
	if (m->name != NULL && (m->name[0] == '\0' ||
	    strlen(m->name) > QS_NAME_MAX))
		fuzz_fail("%s module name has %zu bytes", what,
		    strlen(m->name));
	for (i = 0; i < m->nparams; i++)
		if (m->params[i].name == NULL || m->params[i].value == NULL)
			fuzz_fail("%s option %zu has no name or value", what,
			    i + 1);
}

static void
check_key(const struct qs_cfg_key *k, const char *what)
{
	if (k->source < QS_KEYSRC_TEXT || k->source > QS_KEYSRC_PROMPT)
		fuzz_fail("%s has key source %d", what, k->source);
	if ((k->source == QS_KEYSRC_TEXT || k->source == QS_KEYSRC_FILE) &&
	    (k->value == NULL || k->value[0] == '\0'))
		fuzz_fail("%s has an empty key or key file", what);
}

static void
check_config(const struct qs_config *c)
{
	size_t i;

	if (c->file == NULL || strcmp(c->file, "fuzz.conf") != 0)
		fuzz_fail("configuration lost its file name");
	if (c->plugin_path != NULL && c->plugin_path[0] != '/')
		fuzz_fail("plugin-path \"%s\" is not absolute", c->plugin_path);
	if (qs_config_plugin_dir(c) == NULL)
		fuzz_fail("qs_config_plugin_dir returned NULL");
	if (c->max_ratio == 0)
		fuzz_fail("max-ratio is 0, below the minimum of 1");
	check_module(&c->backend, "queue backend");
	check_module(&c->compress, "queue compression");
	check_module(&c->crypto, "queue encryption");
	if (c->crypto.name != NULL)
		check_key(&c->key, "queue encryption");
	else if (c->key.source != 0)
		fuzz_fail("a key is set without queue encryption");
	for (i = 0; i < c->nold_keys; i++)
		check_key(&c->old_keys[i], "queue decryption");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qs_config *c;
	char err[QS_ERR_MAX];

	err[0] = '\0';
	c = qs_config_parse((const char *)data, size, "fuzz.conf", err,
	    sizeof(err));
	if (c == NULL) {
		if (err[0] == '\0')
			fuzz_fail("qs_config_parse failed without a message");
		if (strchr(err, '\n') != NULL)
			fuzz_fail("message is more than one line: %s", err);
		return 0;
	}
	check_config(c);
	qs_config_free(c);
	return 0;
}
