/*
 * Module loading. A module is opened only by full path from the plugin
 * directory and only under a name of the form [a-z0-9-]+. Its file and
 * directory must not be writable by group or others. Its descriptor
 * must match this host's ABI major version and the requested kind.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

const char *
qs_kind_prefix(uint32_t kind)
{
	switch (kind) {
	case QS_KIND_COMPRESS:
		return "compress";
	case QS_KIND_CRYPTO:
		return "crypto";
	case QS_KIND_QUEUE:
		return "queue";
	}
	return NULL;
}

static int
valid_stem(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < sizeof(((struct qs_loaded *)0)->stem) &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* Checks the file and its directory before anything is mapped. */
static int
check_file(const char *dir, const char *path, char *err, size_t cap)
{
	struct stat st;

	if (stat(dir, &st) == -1) {
		qs_errf(err, cap, "plugin directory %s: %s; check plugin-path "
		    "or QSTACK_PLUGIN_PATH", dir, strerror(errno));
		return QS_ERR_NOTFOUND;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		qs_errf(err, cap, "plugin directory %s is writable by group "
		    "or others (mode %04o); run chmod go-w %s", dir,
		    (unsigned)(st.st_mode & 07777), dir);
		return QS_ERR_INVALID;
	}
	if (stat(path, &st) == -1) {
		qs_errf(err, cap, "module file %s: %s; check the module name "
		    "and plugin-path", path, strerror(errno));
		return QS_ERR_NOTFOUND;
	}
	if (!S_ISREG(st.st_mode)) {
		qs_errf(err, cap, "module file %s is not a regular file",
		    path);
		return QS_ERR_INVALID;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		qs_errf(err, cap, "module file %s is writable by group or "
		    "others (mode %04o); run chmod go-w %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		return QS_ERR_INVALID;
	}
	return QS_OK;
}

static int
check_ops(const struct qs_module *m, const char *path, char *err,
    size_t cap)
{
	const struct qs_transform_ops *t = m->ops;
	const struct qs_queue_ops *q = m->ops;

	if (m->ops == NULL)
		goto bad;
	if (m->kind == QS_KIND_QUEUE) {
		if (!QS_HAS_FIELD(q, struct qs_queue_ops, env_walk) ||
		    q->open == NULL || q->close == NULL ||
		    q->meta_get == NULL || q->meta_put == NULL ||
		    q->msg_create == NULL || q->msg_write == NULL ||
		    q->msg_commit == NULL || q->msg_abort == NULL ||
		    q->msg_open == NULL || q->msg_read == NULL ||
		    q->msg_close == NULL || q->msg_stat == NULL ||
		    q->msg_delete == NULL || q->msg_walk == NULL ||
		    q->env_create == NULL || q->env_load == NULL ||
		    q->env_update == NULL || q->env_delete == NULL ||
		    q->env_walk == NULL)
			goto bad;
		return QS_OK;
	}
	if (!QS_HAS_FIELD(t, struct qs_transform_ops, stream_free) ||
	    t->instance_new == NULL || t->instance_free == NULL ||
	    t->stream_new == NULL || t->stream_begin == NULL ||
	    t->stream_update == NULL || t->stream_final == NULL ||
	    t->stream_free == NULL)
		goto bad;
	return QS_OK;
bad:
	qs_errf(err, cap, "module %s lacks a required function of its "
	    "interface; rebuild it against this qstack's plugin.h", path);
	return QS_ERR_MODULE;
}

/* Validates the descriptor an entry returned. */
static int
check_descriptor(const struct qs_module *m, const char *path,
    uint32_t kind, const char *name, char *err, size_t cap)
{
	if (m == NULL) {
		qs_errf(err, cap, "module %s declined to load for host ABI "
		    "%u.%u", path, QS_ABI_MAJOR, QS_ABI_MINOR);
		return QS_ERR_UNSUPPORTED;
	}
	if (!QS_HAS_FIELD(m, struct qs_module, ops)) {
		qs_errf(err, cap, "module %s returned a descriptor of %u "
		    "bytes, too small for ABI %u; rebuild it", path, m->size,
		    QS_ABI_MAJOR);
		return QS_ERR_MODULE;
	}
	if (QS_ABI_VERSION_MAJOR(m->abi_version) != QS_ABI_MAJOR) {
		qs_errf(err, cap, "module %s was built for ABI %u.%u, but this "
		    "qstack expects ABI %u.x; rebuild the module against this "
		    "qstack's plugin.h", path,
		    QS_ABI_VERSION_MAJOR(m->abi_version),
		    QS_ABI_VERSION_MINOR(m->abi_version), QS_ABI_MAJOR);
		return QS_ERR_UNSUPPORTED;
	}
	if (m->kind != kind || m->name == NULL ||
	    strcmp(m->name, name) != 0) {
		qs_errf(err, cap, "module %s describes itself as %s-%s, not "
		    "%s-%s; the file is misnamed", path,
		    qs_kind_prefix(m->kind) ? qs_kind_prefix(m->kind) : "?",
		    m->name ? m->name : "?", qs_kind_prefix(kind), name);
		return QS_ERR_MODULE;
	}
	if (m->format_version == 0 || m->format_version > UINT16_MAX) {
		qs_errf(err, cap, "module %s declares format version %u; it "
		    "must be between 1 and 65535", path, m->format_version);
		return QS_ERR_MODULE;
	}
	return check_ops(m, path, err, cap);
}

int
qs_module_load(const char *dir, uint32_t kind, const char *name,
    struct qs_loaded *l, char *err, size_t cap)
{
	const char *prefix = qs_kind_prefix(kind);
	qs_entry_fn entry;
	int rc;

	memset(l, 0, sizeof(*l));
	if (prefix == NULL || strlen(name) > QS_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	    strlen(name) || name[0] == '\0') {
		qs_errf(err, cap, "invalid module name \"%s\"; names are 1 to "
		    "%d lowercase letters, digits and '-'", name, QS_NAME_MAX);
		return QS_ERR_INVALID;
	}
	if (dir[0] != '/') {
		qs_errf(err, cap, "plugin directory \"%s\" is not an absolute "
		    "path", dir);
		return QS_ERR_INVALID;
	}
	snprintf(l->stem, sizeof(l->stem), "%s-%s", prefix, name);
	if ((size_t)snprintf(l->path, sizeof(l->path), "%s/%s.so", dir,
	    l->stem) >= sizeof(l->path)) {
		qs_errf(err, cap, "plugin directory path is too long: %s", dir);
		return QS_ERR_INVALID;
	}
	if ((rc = check_file(dir, l->path, err, cap)) != 0)
		return rc;
	l->handle = dlopen(l->path, RTLD_NOW | RTLD_LOCAL);
	if (l->handle == NULL) {
		qs_errf(err, cap, "cannot load module %s: %s", l->path,
		    dlerror());
		return QS_ERR_MODULE;
	}
	*(void **)&entry = dlsym(l->handle, QS_ENTRY_SYMBOL);
	if (entry == NULL) {
		qs_errf(err, cap, "module %s does not export %s; it is not a "
		    "qstack module", l->path, QS_ENTRY_SYMBOL);
		qs_module_unload(l);
		return QS_ERR_MODULE;
	}
	l->module = entry(QS_ABI_VERSION, &qs_host_services);
	rc = check_descriptor(l->module, l->path, kind, name, err, cap);
	if (rc != 0) {
		qs_module_unload(l);
		return rc;
	}
	return QS_OK;
}

int
qs_module_load_stem(const char *dir, const char *stem, struct qs_loaded *l,
    char *err, size_t cap)
{
	static const uint32_t kinds[] = {
		QS_KIND_COMPRESS, QS_KIND_CRYPTO, QS_KIND_QUEUE
	};
	size_t i, n;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *prefix = qs_kind_prefix(kinds[i]);

		n = strlen(prefix);
		if (strncmp(stem, prefix, n) == 0 && stem[n] == '-')
			return qs_module_load(dir, kinds[i], stem + n + 1, l,
			    err, cap);
	}
	qs_errf(err, cap, "\"%s\" is not a module name", stem);
	return QS_ERR_CORRUPT;
}

void
qs_module_unload(struct qs_loaded *l)
{
	if (l->handle != NULL)
		dlclose(l->handle);
	l->handle = NULL;
	l->module = NULL;
}

int
qs_module_check_params(const struct qs_loaded *l,
    const struct qs_cfg_module *cfg, const char *file, char *err,
    size_t cap)
{
	const struct qs_option *opt;
	char known[256];
	size_t i, used;

	for (i = 0; i < cfg->nparams; i++) {
		opt = l->module->options;
		for (; opt != NULL && opt->name != NULL; opt++)
			if (strcmp(opt->name, cfg->params[i].name) == 0)
				break;
		if (opt != NULL && opt->name != NULL)
			continue;
		known[0] = '\0';
		used = 0;
		opt = l->module->options;
		for (; opt != NULL && opt->name != NULL; opt++) {
			int n = snprintf(known + used, sizeof(known) - used,
			    "%s%s", used ? ", " : "", opt->name);

			if (n < 0 || (size_t)n >= sizeof(known) - used)
				break;
			used += (size_t)n;
		}
		qs_errf(err, cap, "%s:%d: module %s has no option \"%s\"; it "
		    "accepts: %s", file, cfg->line, l->stem,
		    cfg->params[i].name, used ? known : "no options");
		return QS_ERR_CONFIG;
	}
	return QS_OK;
}

/* Lists modules for qs_plugins_walk, sorted by file name. */
static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

QS_API int
qs_plugins_walk(const struct qs_config *c,
    void (*fn)(void *arg, const struct qs_plugin_info *info), void *arg)
{
	const char *dir = qs_config_plugin_dir(c);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return QS_ERR_IO;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char **nn;

		if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		if ((nn = reallocarray(names, n + 1, sizeof(*nn))) == NULL)
			break;
		names = nn;
		if ((names[n] = strndup(de->d_name, len - 3)) != NULL)
			n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), compare_names);
	for (i = 0; i < n; i++) {
		struct qs_plugin_info info;
		struct qs_loaded l;
		char err[QS_ERR_MAX], path[4096];

		memset(&info, 0, sizeof(info));
		snprintf(path, sizeof(path), "%s/%s.so", dir, names[i]);
		info.file = path;
		info.name = names[i];
		if (!valid_stem(names[i])) {
			snprintf(err, sizeof(err), "invalid module name; names "
			    "are lowercase letters, digits and '-'");
			info.error = err;
		} else if (qs_module_load_stem(dir, names[i], &l, err,
		    sizeof(err)) != 0) {
			info.error = err;
		} else {
			info.name = l.module->name;
			info.kind = l.module->kind;
			info.abi_version = l.module->abi_version;
			info.format_version = l.module->format_version;
			info.version = l.module->version;
			info.description = l.module->description;
		}
		fn(arg, &info);
		if (info.error == NULL)
			qs_module_unload(&l);
		free(names[i]);
	}
	free(names);
	return QS_OK;
}
