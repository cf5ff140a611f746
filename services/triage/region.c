/* region.c: region resolution by sorted lookup tables.
 *
 * One sorted array of (code, region) per level, searched with bsearch: the
 * levels are tried from most to least specific and the first hit wins.
 * Building the index is done once per config; resolving allocates nothing.
 */
#include "region.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *code;
    const triage_region_t *region;
} region_entry_t;

typedef struct {
    region_entry_t *entries;
    size_t count;
} region_table_t;

struct region_index_t {
    region_table_t levels[REGION_MATCH_DEFAULT]; /* county, zip3, state */
    const triage_region_t *fallback;
};

static int s_compare(const void *a, const void *b)
{
    return strcmp(((const region_entry_t *)a)->code, ((const region_entry_t *)b)->code);
}

static int s_build(region_table_t *table, const triage_config_t *config, region_match_t level)
{
    size_t total = 0;
    for (size_t r = 0; r < config->regions.count; r++) {
        const triage_region_t *region = &config->regions.items[r];
        size_t counts[] = {region->county_count, region->zip3_count, region->state_count};
        total += counts[level];
    }
    table->entries = calloc(total + 1, sizeof *table->entries);
    if (!table->entries) {
        return -1;
    }
    for (size_t r = 0; r < config->regions.count; r++) {
        const triage_region_t *region = &config->regions.items[r];
        char **items[] = {region->counties, region->zip3s, region->states};
        size_t counts[] = {region->county_count, region->zip3_count, region->state_count};
        for (size_t i = 0; i < counts[level]; i++) {
            table->entries[table->count++] = (region_entry_t){items[level][i], region};
        }
    }
    qsort(table->entries, table->count, sizeof *table->entries, s_compare);
    return 0;
}

region_index_t *region_index_new(const triage_config_t *config)
{
    region_index_t *index = calloc(1, sizeof *index);
    if (!index) {
        return NULL;
    }
    index->fallback = triage_config_region(config, config->default_region);
    if (!index->fallback) {
        goto fail;
    }
    for (int level = 0; level < REGION_MATCH_DEFAULT; level++) {
        if (s_build(&index->levels[level], config, (region_match_t)level) < 0) {
            goto fail;
        }
    }
    return index;
fail:
    region_index_destroy(&index);
    return NULL;
}

void region_index_destroy(region_index_t **index_p)
{
    if (!index_p || !*index_p) {
        return;
    }
    for (int level = 0; level < REGION_MATCH_DEFAULT; level++) {
        free((*index_p)->levels[level].entries);
    }
    free(*index_p);
    *index_p = NULL;
}

const triage_region_t *region_resolve(const region_index_t *index, const char *state,
                                      const char *county_fips, const char *zip3,
                                      region_match_t *how)
{
    const char *keys[REGION_MATCH_DEFAULT] = {county_fips, zip3, state};
    for (int level = 0; level < REGION_MATCH_DEFAULT; level++) {
        const region_table_t *table = &index->levels[level];
        if (!keys[level] || keys[level][0] == '\0' || table->count == 0) {
            continue;
        }
        region_entry_t probe = {.code = keys[level]};
        const region_entry_t *hit =
            bsearch(&probe, table->entries, table->count, sizeof *table->entries, s_compare);
        if (hit) {
            if (how) {
                *how = (region_match_t)level;
            }
            return hit->region;
        }
    }
    if (how) {
        *how = REGION_MATCH_DEFAULT;
    }
    return index->fallback;
}

const char *region_match_name(region_match_t how)
{
    static const char *const names[] = {"county", "zip3", "state", "default"};
    return (unsigned)how <= REGION_MATCH_DEFAULT ? names[how] : "default";
}
