/* config: Dockerfile instructions applied to an image config's "config" object, as
 * `docker import --change` does (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
 * STOPSIGNAL, USER, VOLUME, WORKDIR; any other instruction is refused). */
#ifndef IMG_CONFIG_H
#define IMG_CONFIG_H

#include <stddef.h>
#include <jansson.h>

/* Apply one instruction (keyword in any case, then its arguments) to cfg, the "config"
 * object of an image config (Cmd, Entrypoint, Env, ...), creating members as needed.
 * *cmd_set (0 before the first instruction) tracks whether a CMD came earlier in the
 * same series: an ENTRYPOINT without one clears an inherited Cmd, as docker does.
 * 0, or -1 with img_errmsg() ("EXPOSE: invalid port 'x'"); cfg may then be half-changed. */
int img_config_change(json_t *cfg, const char *instr, int *cmd_set);
/* Apply n instructions in order (one series). 0, or -1 at the first that fails. */
int img_config_changes(json_t *cfg, const char *const *instrs, size_t n);

#endif
