// tigerchat-sim: runs the real replica code of whole clusters on one thread from one seed.
// See sim/README.md and docs/simulator.md.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_run.h"
#include "tc_checksum.h"

struct cli {
    uint64_t seed_first;
    uint64_t seed_last;
    bool range;
    bool verbose;
    bool quiet;
    bool require_coverage;
    bool coverage;
    bool reconfig_heavy;
    uint64_t ticks_max;
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: tigerchat-sim --seed N | --seeds A-B [options]\n"
            "  --seed N             run one seed: an account of the run, then the last line\n"
            "                       seed=N ok ticks=T commits=C digest=HEX\n"
            "  --seeds A-B          run seeds A..B (inclusive); one line per failing seed, the\n"
            "                       coverage table, then: seeds=A-B passed=P failed=F\n"
            "                       liveness_core_excused=E\n"
            "  --require-coverage   with --seeds: exit 1 if any message type or fault count is 0\n"
            "  --coverage           with --seed: also print the coverage table\n"
            "  --ticks-max N        cap the safety phase at N ticks (the liveness phase follows)\n"
            "  --verbose            per-event trace: replica logs and simulator events, by tick\n"
            "  --quiet              only the result lines\n"
            "  --reconfig-heavy     reconfiguration-heavy seeds: frequent leadership transfers and\n"
            "                       replica replacements, 64-slot journals (many checkpoints and\n"
            "                       state syncs)\n"
            "exit status: 0 all seeds passed, 1 an invariant was violated, 2 usage error\n");
}

static bool parse_u64(const char *text, uint64_t *out) {
    if (text == NULL || *text == '\0') return false;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text) return false;
    *out = value;
    return *end == '\0' || *end == '-';
}

static bool parse_range(const char *text, uint64_t *first, uint64_t *last) {
    if (!parse_u64(text, first)) return false;
    const char *dash = strchr(text, '-');
    if (dash == NULL) {
        *last = *first;
        return true;
    }
    if (!parse_u64(dash + 1, last) || strchr(dash + 1, '-') != NULL) return false;
    return *first <= *last;
}

static int parse(int argc, char **argv, struct cli *cli) {
    memset(cli, 0, sizeof(*cli));
    bool have_seed = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--seed") == 0) {
            if (!parse_u64(value, &cli->seed_first) || strchr(value, '-') != NULL) return 2;
            cli->seed_last = cli->seed_first;
            have_seed = true;
            i++;
        } else if (strcmp(arg, "--seeds") == 0) {
            if (!parse_range(value, &cli->seed_first, &cli->seed_last)) return 2;
            cli->range = true;
            have_seed = true;
            i++;
        } else if (strcmp(arg, "--ticks-max") == 0) {
            if (!parse_u64(value, &cli->ticks_max) || strchr(value, '-') != NULL) return 2;
            i++;
        } else if (strcmp(arg, "--verbose") == 0) {
            cli->verbose = true;
        } else if (strcmp(arg, "--reconfig-heavy") == 0) {
            cli->reconfig_heavy = true;
        } else if (strcmp(arg, "--quiet") == 0) {
            cli->quiet = true;
        } else if (strcmp(arg, "--coverage") == 0) {
            cli->coverage = true;
        } else if (strcmp(arg, "--summary") == 0) {
            cli->quiet = false; // the default for --seed; accepted for explicitness
        } else if (strcmp(arg, "--require-coverage") == 0) {
            cli->require_coverage = true;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "tigerchat-sim: unknown argument '%s'\n", arg);
            return 2;
        }
    }
    return have_seed ? 0 : 2;
}

static void print_failure(uint64_t seed, const struct sim_run_result *result) {
    printf("seed=%llu FAILED %s\n", (unsigned long long)seed, result->failure);
    printf("replay: tigerchat-sim --seed %llu\n", (unsigned long long)seed);
}

static int run_one(const struct cli *cli) {
    struct sim_run_options options = {
        .seed = cli->seed_first, .safety_ticks_max = cli->ticks_max, .verbose = cli->verbose,
        .reconfig_heavy = cli->reconfig_heavy};
    struct sim_run_result *result = calloc(1, sizeof(*result));
    if (result == NULL) return 2;
    sim_run(&options, result);
    if (!cli->quiet) {
        printf("seed %llu: %s\n%s", (unsigned long long)cli->seed_first,
               result->ok ? "every invariant held" : "FAILED", result->summary);
        if (cli->coverage) sim_coverage_print(&result->coverage, stdout);
    }
    int status = 0;
    if (result->ok) {
        char hex[33];
        tc_hex_encode(hex, result->digest.bytes, sizeof(result->digest.bytes));
        printf("seed=%llu ok ticks=%llu commits=%llu digest=%s\n",
               (unsigned long long)cli->seed_first, (unsigned long long)result->ticks,
               (unsigned long long)result->commits, hex);
    } else {
        print_failure(cli->seed_first, result);
        status = 1;
    }
    free(result);
    return status;
}

static int run_range(const struct cli *cli) {
    struct sim_run_result *result = calloc(1, sizeof(*result));
    struct sim_coverage *coverage = calloc(1, sizeof(*coverage));
    if (result == NULL || coverage == NULL) return 2;
    uint64_t passed = 0;
    uint64_t failed = 0;
    uint64_t excused = 0;
    for (uint64_t seed = cli->seed_first; seed <= cli->seed_last; seed++) {
        struct sim_run_options options = {
            .seed = seed, .safety_ticks_max = cli->ticks_max, .verbose = cli->verbose,
            .reconfig_heavy = cli->reconfig_heavy};
        sim_run(&options, result);
        sim_coverage_add(coverage, &result->coverage);
        if (result->ok) {
            passed++;
            if (result->liveness_core_excused) {
                excused++;
                printf("seed=%llu ok liveness_core_excused: %s\n", (unsigned long long)seed,
                       result->liveness_excuse);
            }
        } else {
            failed++;
            print_failure(seed, result);
        }
        fflush(stdout);
        if (seed == UINT64_MAX) break;
    }
    uint32_t zero = 0;
    if (!cli->quiet || cli->require_coverage) zero = sim_coverage_print(coverage, stdout);
    if (cli->require_coverage && zero > 0) printf("coverage: %u counters are zero\n", zero);
    printf("seeds=%llu-%llu passed=%llu failed=%llu liveness_core_excused=%llu\n",
           (unsigned long long)cli->seed_first, (unsigned long long)cli->seed_last,
           (unsigned long long)passed, (unsigned long long)failed, (unsigned long long)excused);
    free(result);
    free(coverage);
    if (failed > 0) return 1;
    return cli->require_coverage && zero > 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    struct cli cli;
    if (parse(argc, argv, &cli) != 0) {
        usage(stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cli.range ? run_range(&cli) : run_one(&cli);
}
