/* triage_admin.h: vigil-triage's admin commands and status facts.
 *
 *   RELOAD_PLUGINS     (vigilctl reload-plugins) load changed plugin
 *                      versions and swap them in between decision passes;
 *                      a version that fails its checks is refused and the
 *                      old one keeps serving. SIGHUP and RELOAD do the same
 *                      and also apply the regions' re-read settings.
 *   DIRECTORY_IMPORT   (vigilctl directory import PATH; args[0] = PATH)
 *                      import an HSDS directory; every rejected row comes
 *                      back as a fact "rejected.N" = "FILE ROW: reason".
 *
 * Facts for vigilctl status: plugin.<region> (running plugin and version,
 * or FALLBACK and why), fallback.<region> (the fallback's assignee and
 * escalation target), plugin.worker_restarts, directory.services.
 */
#ifndef VIGIL_TRIAGE_ADMIN_H
#define VIGIL_TRIAGE_ADMIN_H

#include "triage.h"
#include "vigil/admin.h"

/* The dispatch table for service_def_t.admin_commands. */
extern const admin_command_t triage_admin_commands[];

/* Reloads the plugins: vigilctl reload-plugins with `fresh` NULL (the
 * files, under the settings each region runs with), SIGHUP and vigilctl
 * reload with the config just re-read. Then each region's policy settings
 * (plugin, plugin_config, timezone, fallback, roster) come from `fresh`
 * and reach the plugin through a fresh init or its reload callback; a
 * region whose plugin refuses them keeps its old settings and version.
 * Regions added, removed, renamed or given other places, or another
 * default region, take a restart: then no setting is applied, only the
 * files are reloaded, and the reason is logged. Writes one line per region
 * into `report`. Returns 0, or -1 if some region kept its old version or
 * settings or stayed on fallback, with the first such refusal in `err`. */
int triage_reload_plugins(triage_t *triage, const triage_config_t *fresh, char *report,
                          size_t report_len, char *err, size_t errlen);

/* Counts every region now on fallback as a failed plugin load (after start
 * and after each reload). Cannot fail. */
void triage_count_init_failures(triage_t *triage);

/* Refreshes the status facts and the per-region plugin gauges. Cannot fail. */
void triage_update_facts(triage_t *triage);

#endif
