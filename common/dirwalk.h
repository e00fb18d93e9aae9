/* dirwalk: a directory tree visited in a fixed order (the names of each directory sorted
 * bytewise, a directory before what it holds), never following symlinks, with the later
 * names of a multiply-linked inode reported as hard links to the first. */
#ifndef IMG_DIRWALK_H
#define IMG_DIRWALK_H

#include <sys/stat.h>
#include "arcin.h"

struct img_dirwalk_entry {
	const char *rel;          /* path below the root ("etc/passwd"), never empty */
	const char *full;         /* root "/" rel, for messages */
	int dfd;                  /* the directory that holds it */
	const char *name;         /* its name in dfd */
	enum img_ent_type type;   /* FILE, DIR, SYMLINK, HARDLINK, CHR, BLK, FIFO, or OTHER
	                           * (a socket, say) */
	struct stat st;           /* of the open fd when there is one, else lstat */
	int fd;                   /* read-only, for a FILE, a DIR and a HARDLINK to a regular
	                           * file (the walk closes it); else -1 */
	const char *link;         /* SYMLINK: the target; HARDLINK: rel of the first name */
};

/* Called for every entry. 0 to go on, 1 not to descend into this directory, -1 to stop
 * (the walk returns -1; fn sets img_errmsg). The entry is valid during the call. */
typedef int (*img_dirwalk_fn)(const struct img_dirwalk_entry *e, void *arg);

/* Walk what root holds (root itself is not reported). A file or directory that changes
 * type between stat and open is an error. 0, or -1 with img_errmsg(). */
int img_dirwalk_run(const char *root, img_dirwalk_fn fn, void *arg);

#endif
