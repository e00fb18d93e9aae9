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

/* img_config_change with vars, the build arguments in scope (an array of "K=V"): $K
 * expands from Env first, then from vars, as docker's builder does. */
int img_config_change_vars(json_t *cfg, const char *instr, int *cmd_set, json_t *vars);
/* Split s into words as ENV and LABEL do (quotes removed, backslash escapes, $VAR,
 * ${VAR}, ${VAR:-word}, ${VAR:+word} expanded from env then vars; either may be NULL).
 * The number of words in *out (NULL-terminated; img_config_words_free), or -1 on
 * unbalanced quotes. */
int img_config_words(const char *s, json_t *env, json_t *vars, char ***out);
/* The JSON exec form ["a", "b"] of s (an array of strings, duplicates refused), or NULL
 * if s is not one. New reference. */
json_t *img_config_exec_form(const char *s);
/* Append diff_id to config c's rootfs.diff_ids ({"type": "layers"} made when missing). */
void img_config_add_diff_id(json_t *c, const char *diff_id);
/* Append {created, created_by[, comment][, empty_layer: true]} to config c's history (made
 * when missing); comment may be NULL. */
void img_config_add_history(json_t *c, const char *created, const char *created_by,
                            const char *comment, int empty_layer);
void img_config_words_free(char **w);
/* s with its variables expanded, quotes and backslashes kept. New string. */
char *img_config_expand(const char *s, json_t *env, json_t *vars);

#endif
