/*
 * pools: compile the configuration into the process table.
 *
 * Inputs: processes / threads (the web pool), mule / mules (the mule list),
 * farm NAME:ID,... (farms over mule ids), the hierarchical pools form
 * (each pool of type mule adds `processes` mules and a farm of them; type
 * standalone adds slots that are not forked), server-name and the
 * server-name template.
 *
 * Naming follows {server_name}.{pool_name}.{instance_id}: web worker N is
 * main.web.N; a mule takes the name of the first farm that lists it, its
 * instance id being its 1-based position in that farm's list (not its mule
 * id); a mule in no farm is main.mule.ID. The template may also use
 * {hostname}, {pid} (filled in at fork) and {process_num} (= instance_id).
 *
 * A mule whose program is a Python file ("mule: lib/galaxy/main.py", as
 * Galaxy's configurations have it) runs the built-in mule loop instead of
 * exec'ing the file; one notice at start-up says so.
 *
 * Every error names the option and where it was set, e.g.
 * "galaxy.yml:6: option 'farm': mule 4 does not exist (3 mules configured)".
 */
#ifndef MT_POOLS_H
#define MT_POOLS_H

#include <stddef.h>

#include "stack/config.h"
#include "stack/proctable.h"

/*
 * Fill a zeroed table from cfg. Returns 0, or -1 with err filled (and the
 * table left for mt_proctable_destroy). Opens no descriptors.
 */
int mt_pools_build(mt_proctable_t *table, const mt_config_t *cfg, char *err, size_t errlen);

/*
 * Expand a server-name template into out. Unknown placeholders are an
 * error: returns 0, or -1 with the bad placeholder named in err. pid 0
 * leaves "{pid}" in place (filled in after fork).
 */
int mt_server_name_expand(const char *tmpl, const char *server_name, const char *pool, int instance_id,
                          long pid, char *out, size_t outlen, char *err, size_t errlen);

#endif
