/* modsweep: the command-line driver (placeholder until the engine lands). */
#include <stdio.h>
#include <string.h>

#include "modsweep/version.h"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("modsweep %s (%s)\n", MS_VERSION, MS_BUILD_OPTIONS);
        return 0;
    }
    fprintf(stderr, "usage: modsweep [--version]\n");
    return 2;
}
